/**
 * The parts of rapidjson 1.1.0 that shape TF Serving's REST answers, re-implemented from their
 * documented behaviour: the DOM parser TF runs on every request body (flags kParseIterativeFlag |
 * kParseNanAndInfFlag | kParseStopWhenDoneFlag over an EncodedInputStream<UTF8, MemoryStream>), the
 * English error texts with their byte offsets, and the PrettyWriter TF uses for every JSON it writes.
 *
 * Fidelity matters because TF Serving echoes these details back to clients (parse offsets, number
 * formats, the request document inside error messages), and the gateway must not be distinguishable
 * from a replica. Known, deliberate gaps: strings are held as JS strings, so invalid UTF-8 bytes
 * inside a JSON string become U+FFFD where TF would echo the raw bytes, and doubles are printed with
 * the shortest round-trip digits where rapidjson's Grisu2 may, rarely, print a longer form.
 */
import { rapidjsonQuote } from './errors.js';

export { rapidjsonQuote };

/** A JSON number with the integer/double distinction rapidjson keeps (TF branches on it). */
export class JsonNumber {
  /**
   * @param isDouble parsed with a fraction, an exponent, or as NaN/Infinity, or too large for 64 bits
   * @param value the double value (GetDouble()); exact for integers up to 2^53
   * @param big the exact integer when it is not a safe JS integer
   */
  constructor(
    readonly isDouble: boolean,
    readonly value: number,
    readonly big: bigint | null = null,
  ) {}

  /** rapidjson IsInt(): an integer in int32 range. */
  isInt(): boolean {
    return !this.isDouble && this.big === null && this.value >= -2147483648 && this.value <= 2147483647;
  }

  /** rapidjson IsUint64(): an integer in [0, 2^64). */
  isUint64(): boolean {
    if (this.isDouble) return false;
    return this.big === null ? this.value >= 0 : this.big >= 0n;
  }

  /** rapidjson IsInt64(): an integer in int64 range. */
  isInt64(): boolean {
    if (this.isDouble) return false;
    return this.big === null || this.big <= 9223372036854775807n;
  }

  /** rapidjson GetFloat(): static_cast<float>(GetDouble()). */
  getFloat(): number {
    return Math.fround(this.value);
  }

  /** The integer as rapidjson's Writer prints it (Int/Uint/Int64/Uint64). */
  integerText(): string {
    return this.big === null ? String(this.value) : this.big.toString();
  }
}

/** A JSON object; member order and duplicate names are kept, as rapidjson does. */
export class JsonObject {
  readonly names: string[] = [];
  readonly values: JsonValue[] = [];

  /** rapidjson FindMember(): the FIRST member with that name. */
  get(name: string): JsonValue | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.values[i];
  }

  has(name: string): boolean {
    return this.names.indexOf(name) >= 0;
  }

  get size(): number {
    return this.names.length;
  }
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;

export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return v instanceof JsonObject;
}

export function isJsonNumber(v: JsonValue | undefined): v is JsonNumber {
  return v instanceof JsonNumber;
}

/** rapidjson::ParseErrorCode, the members TF can hit. */
export type ParseErrorCode =
  | 'DocumentEmpty'
  | 'DocumentRootNotSingular'
  | 'ValueInvalid'
  | 'ObjectMissName'
  | 'ObjectMissColon'
  | 'ObjectMissCommaOrCurlyBracket'
  | 'ArrayMissCommaOrSquareBracket'
  | 'StringUnicodeEscapeInvalidHex'
  | 'StringUnicodeSurrogateInvalid'
  | 'StringEscapeInvalid'
  | 'StringMissQuotationMark'
  | 'StringInvalidEncoding'
  | 'NumberTooBig'
  | 'NumberMissFraction'
  | 'NumberMissExponent';

/** rapidjson/error/en.h GetParseError_En, word for word. */
export const PARSE_ERROR_EN: Readonly<Record<ParseErrorCode, string>> = {
  DocumentEmpty: 'The document is empty.',
  DocumentRootNotSingular: 'The document root must not be followed by other values.',
  ValueInvalid: 'Invalid value.',
  ObjectMissName: 'Missing a name for object member.',
  ObjectMissColon: 'Missing a colon after a name of object member.',
  ObjectMissCommaOrCurlyBracket: "Missing a comma or '}' after an object member.",
  ArrayMissCommaOrSquareBracket: "Missing a comma or ']' after an array element.",
  StringUnicodeEscapeInvalidHex: 'Incorrect hex digit after \\u escape in string.',
  StringUnicodeSurrogateInvalid: 'The surrogate pair in string is invalid.',
  StringEscapeInvalid: 'Invalid escape character in string.',
  StringMissQuotationMark: 'Missing a closing quotation mark in string.',
  StringInvalidEncoding: 'Invalid encoding in string.',
  NumberTooBig: 'Number too big to be stored in double.',
  NumberMissFraction: 'Miss fraction part in number.',
  NumberMissExponent: 'Miss exponent in number.',
};

export type ParseOutcome =
  | { readonly ok: true; readonly value: JsonValue }
  | { readonly ok: false; readonly code: ParseErrorCode; readonly offset: number };

// Iterative parser states (reader.h IterativeParsingState).
const S_START = 0;
const S_FINISH = 1;
const S_ERROR = 2;
const S_OBJECT_INITIAL = 3;
const S_MEMBER_KEY = 4;
const S_KEY_VALUE_DELIMITER = 5;
const S_MEMBER_VALUE = 6;
const S_MEMBER_DELIMITER = 7;
const S_OBJECT_FINISH = 8;
const S_ARRAY_INITIAL = 9;
const S_ELEMENT = 10;
const S_ELEMENT_DELIMITER = 11;
const S_ARRAY_FINISH = 12;
const S_VALUE = 13;

// Tokens (reader.h Token).
const T_LEFT_BRACKET = 0;
const T_RIGHT_BRACKET = 1;
const T_LEFT_CURLY = 2;
const T_RIGHT_CURLY = 3;
const T_COMMA = 4;
const T_COLON = 5;
const T_STRING = 6;
const T_FALSE = 7;
const T_TRUE = 8;
const T_NULL = 9;
const T_NUMBER = 10;

function tokenize(c: number): number {
  switch (c) {
    case 0x5b:
      return T_LEFT_BRACKET;
    case 0x5d:
      return T_RIGHT_BRACKET;
    case 0x7b:
      return T_LEFT_CURLY;
    case 0x7d:
      return T_RIGHT_CURLY;
    case 0x2c:
      return T_COMMA;
    case 0x3a:
      return T_COLON;
    case 0x22:
      return T_STRING;
    case 0x66:
      return T_FALSE;
    case 0x74:
      return T_TRUE;
    case 0x6e:
      return T_NULL;
    default:
      // Anything else, garbage included, is handed to the number parser, which reports it.
      return T_NUMBER;
  }
}

const isScalarToken = (t: number): boolean => t >= T_STRING;

/** The state table G of the iterative parser: current state x lookahead token -> next state. */
function predict(state: number, token: number): number {
  switch (state) {
    case S_START:
      if (token === T_LEFT_BRACKET) return S_ARRAY_INITIAL;
      if (token === T_LEFT_CURLY) return S_OBJECT_INITIAL;
      return isScalarToken(token) ? S_VALUE : S_ERROR;
    case S_OBJECT_INITIAL:
      if (token === T_RIGHT_CURLY) return S_OBJECT_FINISH;
      return token === T_STRING ? S_MEMBER_KEY : S_ERROR;
    case S_MEMBER_KEY:
      return token === T_COLON ? S_KEY_VALUE_DELIMITER : S_ERROR;
    case S_KEY_VALUE_DELIMITER:
      if (token === T_LEFT_BRACKET) return S_ARRAY_INITIAL;
      if (token === T_LEFT_CURLY) return S_OBJECT_INITIAL;
      return isScalarToken(token) ? S_MEMBER_VALUE : S_ERROR;
    case S_MEMBER_VALUE:
      if (token === T_RIGHT_CURLY) return S_OBJECT_FINISH;
      return token === T_COMMA ? S_MEMBER_DELIMITER : S_ERROR;
    case S_MEMBER_DELIMITER:
      // '}' is predicted, then rejected in Transit (no trailing-commas flag): ObjectMissName.
      if (token === T_RIGHT_CURLY) return S_OBJECT_FINISH;
      return token === T_STRING ? S_MEMBER_KEY : S_ERROR;
    case S_ARRAY_INITIAL:
    case S_ELEMENT_DELIMITER:
      if (token === T_LEFT_BRACKET) return S_ARRAY_INITIAL;
      if (token === T_RIGHT_BRACKET) return S_ARRAY_FINISH;
      if (token === T_LEFT_CURLY) return S_OBJECT_INITIAL;
      return isScalarToken(token) ? S_ELEMENT : S_ERROR;
    case S_ELEMENT:
      if (token === T_RIGHT_BRACKET) return S_ARRAY_FINISH;
      return token === T_COMMA ? S_ELEMENT_DELIMITER : S_ERROR;
    default:
      return S_ERROR;
  }
}

// Decimal powers as C++ literals 1e0..1e308 denote them (correctly rounded), for StrtodNormalPrecision.
const POW10: number[] = Array.from({ length: 309 }, (_, n) => Number(`1e${n}`));

function fastPath(significand: number, exp: number): number {
  if (exp < -308) return 0;
  if (exp >= 0) return significand * (POW10[exp] as number);
  return significand / (POW10[-exp] as number);
}

function strtodNormalPrecision(d: number, p: number): number {
  if (p < -308) return fastPath(fastPath(d, -308), p + 308);
  return fastPath(d, p);
}

class ParseError extends Error {
  constructor(
    readonly code: ParseErrorCode,
    readonly offset: number,
  ) {
    super(code);
  }
}

const MAX_SAFE_ACCUMULATOR = 900719925474099; // n*10+9 stays below 2^53

/** Byte-level reader; peek() returns 0 at the end, as MemoryStream::Peek does. */
class Reader {
  pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  peek(): number {
    return this.pos < this.buf.length ? (this.buf[this.pos] as number) : 0;
  }

  consume(c: number): boolean {
    if (this.peek() === c) {
      this.pos++;
      return true;
    }
    return false;
  }

  skipWhitespace(): void {
    const buf = this.buf;
    let p = this.pos;
    while (p < buf.length) {
      const c = buf[p] as number;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      p++;
    }
    this.pos = p;
  }

  isDigit(): boolean {
    const c = this.peek();
    return c >= 0x30 && c <= 0x39;
  }

  parseLiteral(rest: string, value: JsonValue): JsonValue {
    this.pos++;
    for (let i = 0; i < rest.length; i++) {
      if (!this.consume(rest.charCodeAt(i))) throw new ParseError('ValueInvalid', this.pos);
    }
    return value;
  }

  parseString(): string {
    const buf = this.buf;
    this.pos++; // opening quote
    const start = this.pos;
    // Fast path: no escapes.
    let p = start;
    while (p < buf.length) {
      const c = buf[p] as number;
      if (c === 0x22) {
        this.pos = p + 1;
        return decodeUtf8(buf, start, p);
      }
      if (c === 0x5c || c < 0x20) break;
      p++;
    }
    return this.parseEscapedString(start, p);
  }

  private parseEscapedString(start: number, from: number): string {
    const buf = this.buf;
    const bytes: number[] = [];
    for (let i = start; i < from; i++) bytes.push(buf[i] as number);
    this.pos = from;
    for (;;) {
      const c = this.peek();
      if (c === 0x5c) {
        const escapeOffset = this.pos;
        this.pos++;
        const e = this.peek();
        const simple = simpleEscape(e);
        if (simple >= 0) {
          this.pos++;
          bytes.push(simple);
        } else if (e === 0x75) {
          this.pos++;
          let cp = this.parseHex4(escapeOffset);
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (!this.consume(0x5c) || !this.consume(0x75)) throw new ParseError('StringUnicodeSurrogateInvalid', escapeOffset);
            const low = this.parseHex4(escapeOffset);
            if (low < 0xdc00 || low > 0xdfff) throw new ParseError('StringUnicodeSurrogateInvalid', escapeOffset);
            cp = (((cp - 0xd800) << 10) | (low - 0xdc00)) + 0x10000;
          }
          pushUtf8(bytes, cp);
        } else {
          throw new ParseError('StringEscapeInvalid', escapeOffset);
        }
      } else if (c === 0x22) {
        this.pos++;
        return Buffer.from(bytes).toString('utf8');
      } else if (c < 0x20) {
        // A NUL byte reads as the end of the stream.
        throw new ParseError(c === 0 ? 'StringMissQuotationMark' : 'StringEscapeInvalid', this.pos);
      } else {
        bytes.push(c);
        this.pos++;
      }
    }
  }

  private parseHex4(escapeOffset: number): number {
    let cp = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.peek();
      let v: number;
      if (c >= 0x30 && c <= 0x39) v = c - 0x30;
      else if (c >= 0x41 && c <= 0x46) v = c - 0x37;
      else if (c >= 0x61 && c <= 0x66) v = c - 0x57;
      else throw new ParseError('StringUnicodeEscapeInvalidHex', escapeOffset);
      cp = cp * 16 + v;
      this.pos++;
    }
    return cp;
  }

  /** reader.h ParseNumber with kParseNanAndInfFlag, normal (not full) precision. */
  parseNumber(): JsonNumber {
    const startOffset = this.pos;
    const minus = this.consume(0x2d);
    let i = 0;
    let i64 = 0n;
    let use64bit = false;
    let significandDigit = 0;
    let d = 0;
    let useDouble = false;
    let useNanOrInf = false;
    const first = this.peek();
    if (first === 0x30) {
      this.pos++;
    } else if (first >= 0x31 && first <= 0x39) {
      i = first - 0x30;
      this.pos++;
      const limit = minus ? 214748364 : 429496729;
      const lastDigit = minus ? 0x38 : 0x35;
      while (this.isDigit()) {
        if (i >= limit && (i !== limit || this.peek() > lastDigit)) {
          i64 = BigInt(i);
          use64bit = true;
          break;
        }
        i = i * 10 + (this.peek() - 0x30);
        this.pos++;
        significandDigit++;
      }
    } else if (first === 0x49 || first === 0x4e) {
      useNanOrInf = true;
      if (this.consume(0x4e) && this.consume(0x61) && this.consume(0x4e)) {
        d = NaN;
      } else if (this.consume(0x49) && this.consume(0x6e) && this.consume(0x66)) {
        d = minus ? -Infinity : Infinity;
        if (this.peek() === 0x69 && !(this.consume(0x69) && this.consume(0x6e) && this.consume(0x69) && this.consume(0x74) && this.consume(0x79))) {
          throw new ParseError('ValueInvalid', this.pos);
        }
      } else {
        throw new ParseError('ValueInvalid', this.pos);
      }
    } else {
      throw new ParseError('ValueInvalid', this.pos);
    }

    if (use64bit) {
      const limit = minus ? 922337203685477580n : 1844674407370955161n;
      const lastDigit = minus ? 0x38 : 0x35;
      while (this.isDigit()) {
        if (i64 >= limit && (i64 !== limit || this.peek() > lastDigit)) {
          d = Number(i64);
          useDouble = true;
          break;
        }
        i64 = i64 * 10n + BigInt(this.peek() - 0x30);
        this.pos++;
        significandDigit++;
      }
    }

    if (useDouble) {
      while (this.isDigit()) {
        if (d >= 1.7976931348623157e307) throw new ParseError('NumberTooBig', startOffset);
        d = d * 10 + (this.peek() - 0x30);
        this.pos++;
      }
    }

    let expFrac = 0;
    if (this.consume(0x2e)) {
      if (!this.isDigit()) throw new ParseError('NumberMissFraction', this.pos);
      if (!useDouble) {
        // 64-bit significand while it stays below 2^53, as on a 64-bit build.
        let small = use64bit ? -1 : i;
        let big = use64bit ? i64 : 0n;
        while (this.isDigit()) {
          if (small >= 0) {
            if (small > MAX_SAFE_ACCUMULATOR) {
              big = BigInt(small);
              small = -1;
              continue;
            }
            small = small * 10 + (this.peek() - 0x30);
            this.pos++;
            expFrac--;
            if (small !== 0) significandDigit++;
          } else {
            if (big > 0x1fffffffffffffn) break;
            big = big * 10n + BigInt(this.peek() - 0x30);
            this.pos++;
            expFrac--;
            if (big !== 0n) significandDigit++;
          }
        }
        d = small >= 0 ? small : Number(big);
        useDouble = true;
      }
      while (this.isDigit()) {
        if (significandDigit < 17) {
          d = d * 10 + (this.peek() - 0x30);
          expFrac--;
          if (d > 0) significandDigit++;
        }
        this.pos++;
      }
    }

    let exp = 0;
    if (this.consume(0x65) || this.consume(0x45)) {
      if (!useDouble) {
        d = use64bit ? Number(i64) : i;
        useDouble = true;
      }
      let expMinus = false;
      if (this.consume(0x2b)) {
        // explicit plus
      } else if (this.consume(0x2d)) {
        expMinus = true;
      }
      if (!this.isDigit()) throw new ParseError('NumberMissExponent', this.pos);
      exp = this.peek() - 0x30;
      this.pos++;
      if (expMinus) {
        while (this.isDigit()) {
          exp = exp * 10 + (this.peek() - 0x30);
          this.pos++;
          if (exp >= 214748364) {
            while (this.isDigit()) this.pos++;
          }
        }
        exp = -exp;
      } else {
        const maxExp = 308 - expFrac;
        while (this.isDigit()) {
          exp = exp * 10 + (this.peek() - 0x30);
          this.pos++;
          if (exp > maxExp) throw new ParseError('NumberTooBig', startOffset);
        }
      }
    }

    if (useDouble) {
      const v = strtodNormalPrecision(d, exp + expFrac);
      return new JsonNumber(true, minus ? -v : v);
    }
    if (useNanOrInf) return new JsonNumber(true, d);
    if (use64bit) {
      const exact = minus ? -i64 : i64;
      const n = Number(exact);
      return Number.isSafeInteger(n) ? new JsonNumber(false, n) : new JsonNumber(false, n, exact);
    }
    return new JsonNumber(false, minus && i !== 0 ? -i : i);
  }
}

function simpleEscape(e: number): number {
  switch (e) {
    case 0x22:
      return 0x22;
    case 0x2f:
      return 0x2f;
    case 0x5c:
      return 0x5c;
    case 0x62:
      return 0x08;
    case 0x66:
      return 0x0c;
    case 0x6e:
      return 0x0a;
    case 0x72:
      return 0x0d;
    case 0x74:
      return 0x09;
    default:
      return -1;
  }
}

function pushUtf8(bytes: number[], cp: number): void {
  if (cp < 0x80) bytes.push(cp);
  else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

function decodeUtf8(buf: Uint8Array, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if ((buf[i] as number) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii && end - start < 32) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i] as number);
    return s;
  }
  return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString(ascii ? 'latin1' : 'utf8');
}

interface Frame {
  readonly returnState: number;
  readonly container: JsonValue[] | JsonObject;
  key: string;
}

/**
 * rapidjson::Document::ParseStream<kParseIterativeFlag | kParseNanAndInfFlag | kParseStopWhenDoneFlag>
 * over TF's EncodedInputStream<UTF8<>, MemoryStream>. Offsets are byte offsets from the start of
 * the body (a skipped BOM counts). Trailing data after the root value is ignored.
 *
 * Containers nested deeper than `maxDepth` are parsed (every error is still found at its offset)
 * but not built: a JavaScript array per level costs a hundred times the byte that opened it (a body
 * nesting 8 million arrays took 2 GB and 8 s).
 */
export function parseRapidJson(body: Uint8Array, maxDepth = Infinity): ParseOutcome {
  const r = new Reader(body);
  // The UTF-8 MemoryStream specialisation drops each BOM byte independently.
  if (r.peek() === 0xef) r.pos++;
  if (r.peek() === 0xbb) r.pos++;
  if (r.peek() === 0xbf) r.pos++;
  const stack: Frame[] = [];
  let root: JsonValue = null;
  let state = S_START;
  // The return states of the containers below maxDepth, a byte each.
  let elided = new Uint8Array(0);
  let elidedDepth = 0;

  const addValue = (v: JsonValue): void => {
    if (elidedDepth > 0) return;
    const top = stack[stack.length - 1];
    if (top === undefined) root = v;
    else if (Array.isArray(top.container)) top.container.push(v);
    else {
      top.container.names.push(top.key);
      top.container.values.push(v);
    }
  };

  const parseScalar = (): JsonValue => {
    switch (r.peek()) {
      case 0x6e:
        return r.parseLiteral('ull', null);
      case 0x74:
        return r.parseLiteral('rue', true);
      case 0x66:
        return r.parseLiteral('alse', false);
      case 0x22:
        return r.parseString();
      default:
        return r.parseNumber();
    }
  };

  try {
    r.skipWhitespace();
    while (r.peek() !== 0) {
      const token = tokenize(r.peek());
      const next = predict(state, token);
      if (next === S_ERROR) return fail(handleError(state), r.pos);
      switch (next) {
        case S_OBJECT_INITIAL:
        case S_ARRAY_INITIAL: {
          let ret = state;
          if (state === S_ARRAY_INITIAL || state === S_ELEMENT_DELIMITER) ret = S_ELEMENT;
          else if (state === S_KEY_VALUE_DELIMITER) ret = S_MEMBER_VALUE;
          if (stack.length >= maxDepth) {
            if (elidedDepth === elided.length) {
              const grown = new Uint8Array(Math.max(1024, elided.length * 2));
              grown.set(elided);
              elided = grown;
            }
            elided[elidedDepth++] = ret;
          } else {
            stack.push({ returnState: ret, container: next === S_OBJECT_INITIAL ? new JsonObject() : [], key: '' });
          }
          r.pos++;
          state = next;
          break;
        }
        case S_MEMBER_KEY: {
          const key = r.parseString();
          if (elidedDepth === 0) (stack[stack.length - 1] as Frame).key = key;
          state = next;
          break;
        }
        case S_KEY_VALUE_DELIMITER:
        case S_MEMBER_DELIMITER:
        case S_ELEMENT_DELIMITER:
          r.pos++;
          state = next;
          break;
        case S_MEMBER_VALUE:
        case S_ELEMENT:
          addValue(parseScalar());
          state = next;
          break;
        case S_VALUE:
          addValue(parseScalar());
          state = S_FINISH;
          break;
        case S_OBJECT_FINISH:
        case S_ARRAY_FINISH: {
          if (state === S_MEMBER_DELIMITER) return fail('ObjectMissName', r.pos);
          if (state === S_ELEMENT_DELIMITER) return fail('ValueInvalid', r.pos);
          if (elidedDepth > 0) {
            r.pos++;
            state = elided[--elidedDepth] as number;
            break;
          }
          const frame = stack.pop() as Frame;
          r.pos++;
          addValue(frame.container);
          state = frame.returnState === S_START ? S_FINISH : frame.returnState;
          break;
        }
        default:
          return fail(handleError(state), r.pos);
      }
      if (state === S_FINISH) break;
      r.skipWhitespace();
    }
  } catch (e) {
    if (e instanceof ParseError) return fail(e.code, e.offset);
    throw e;
  }
  if (state !== S_FINISH) return fail(handleError(state), r.pos);
  return { ok: true, value: root };
}

function fail(code: ParseErrorCode, offset: number): ParseOutcome {
  return { ok: false, code, offset };
}

/** reader.h HandleError: which error a dead end in a given state reports. */
function handleError(state: number): ParseErrorCode {
  switch (state) {
    case S_START:
      return 'DocumentEmpty';
    case S_FINISH:
      return 'DocumentRootNotSingular';
    case S_OBJECT_INITIAL:
    case S_MEMBER_DELIMITER:
      return 'ObjectMissName';
    case S_MEMBER_KEY:
      return 'ObjectMissColon';
    case S_MEMBER_VALUE:
      return 'ObjectMissCommaOrCurlyBracket';
    case S_KEY_VALUE_DELIMITER:
    case S_ARRAY_INITIAL:
    case S_ELEMENT_DELIMITER:
      return 'ValueInvalid';
    default:
      return 'ArrayMissCommaOrSquareBracket';
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * rapidjson::internal::dtoa with the default maxDecimalPlaces (324): the digit string is then laid
 * out by Prettify ("1.0", "0.001", "1e-7", "1.5e300", "-0.0").
 */
export function rapidjsonDouble(value: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const negative = value < 0;
  const exp = (negative ? -value : value).toExponential();
  const e = exp.indexOf('e');
  const mantissa = exp.slice(0, e).replace('.', '');
  const length = mantissa.length;
  const k = Number(exp.slice(e + 1)) - (length - 1);
  const kk = length + k;
  let out: string;
  if (k >= 0 && kk <= 21) {
    out = mantissa + '0'.repeat(kk - length) + '.0';
  } else if (kk > 0 && kk <= 21) {
    out = mantissa.slice(0, kk) + '.' + mantissa.slice(kk);
  } else if (kk > -6 && kk <= 0) {
    out = '0.' + '0'.repeat(-kk) + mantissa;
  } else if (length === 1) {
    out = mantissa + 'e' + String(kk - 1);
  } else {
    out = mantissa.charAt(0) + '.' + mantissa.slice(1) + 'e' + String(kk - 1);
  }
  return negative ? '-' + out : out;
}


interface Level {
  readonly inArray: boolean;
  count: number;
}

/**
 * rapidjson::PrettyWriter<StringBuffer> with its default four-space indent. Each method is one
 * writer event; `singleLineArrays` mirrors SetFormatOptions(kFormatSingleLineArray), which TF toggles
 * in the middle of documents, hence the odd "[2.5, 3.0, 4.5\n    ]" layouts it produces.
 */
export class PrettyWriter {
  private out = '';
  private bytes = 0;
  private readonly levels: Level[] = [];
  singleLineArrays = false;

  toString(): string {
    return this.out;
  }

  /** Size of the output in bytes (StringBuffer::GetSize()). */
  get byteLength(): number {
    return this.bytes;
  }

  private put(s: string): void {
    this.out += s;
    this.bytes += asciiOnly(s) ? s.length : Buffer.byteLength(s);
  }

  private prefix(): void {
    const level = this.levels[this.levels.length - 1];
    if (level === undefined) return;
    if (level.inArray) {
      if (level.count > 0) this.put(this.singleLineArrays ? ', ' : ',');
      if (!this.singleLineArrays) this.put('\n' + this.indent());
    } else {
      if (level.count > 0) this.put(level.count % 2 === 0 ? ',\n' : ': ');
      else this.put('\n');
      if (level.count % 2 === 0) this.put(this.indent());
    }
    level.count++;
  }

  private indent(): string {
    return ' '.repeat(4 * this.levels.length);
  }

  startObject(): void {
    this.prefix();
    this.levels.push({ inArray: false, count: 0 });
    this.put('{');
  }

  endObject(): void {
    const level = this.levels.pop();
    if (level !== undefined && level.count > 0) this.put('\n' + this.indent());
    this.put('}');
  }

  startArray(): void {
    this.prefix();
    this.levels.push({ inArray: true, count: 0 });
    this.put('[');
  }

  endArray(): void {
    const level = this.levels.pop();
    if (level !== undefined && level.count > 0 && !this.singleLineArrays) this.put('\n' + this.indent());
    this.put(']');
  }

  key(name: string): void {
    this.string(name);
  }

  string(value: string): void {
    this.prefix();
    this.put(rapidjsonQuote(value));
  }

  /** Writer::RawValue: TF writes its own float formatting this way. */
  raw(text: string): void {
    this.prefix();
    this.put(text);
  }

  null(): void {
    this.raw('null');
  }

  bool(value: boolean): void {
    this.raw(value ? 'true' : 'false');
  }

  /** Writer::Double: NaN and infinities are refused (false) after the separator was written. */
  double(value: number): boolean {
    this.prefix();
    if (!Number.isFinite(value)) return false;
    this.put(rapidjsonDouble(value));
    return true;
  }

  number(n: JsonNumber): boolean {
    if (n.isDouble) return this.double(n.value);
    this.raw(n.integerText());
    return true;
  }
}

function asciiOnly(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

const DEBUG_STRING_LIMIT = 256;

/**
 * json_tensor.cc JsonValueToDebugString: the value through a PrettyWriter with single-line arrays,
 * where every event is dropped once 256 bytes have been written (the output may stop mid-document),
 * and a NaN/Infinity ends the output as the Writer refuses it.
 */
export function jsonValueToDebugString(value: JsonValue): string {
  const w = new PrettyWriter();
  w.singleLineArrays = true;
  const inLimit = (): boolean => w.byteLength < DEBUG_STRING_LIMIT;
  const accept = (v: JsonValue): boolean => {
    if (!inLimit()) return false;
    if (v === null) {
      w.null();
      return true;
    }
    if (typeof v === 'boolean') {
      w.bool(v);
      return true;
    }
    if (typeof v === 'string') {
      w.string(v);
      return true;
    }
    if (v instanceof JsonNumber) return w.number(v);
    if (Array.isArray(v)) {
      w.startArray();
      for (const e of v) if (!accept(e)) return false;
      if (!inLimit()) return false;
      w.endArray();
      return true;
    }
    w.startObject();
    for (let i = 0; i < v.names.length; i++) {
      if (!inLimit()) return false;
      w.key(v.names[i] as string);
      if (!accept(v.values[i] as JsonValue)) return false;
    }
    if (!inLimit()) return false;
    w.endObject();
    return true;
  };
  accept(value);
  return w.toString();
}

/** json_tensor.cc JsonTypeString. */
export function jsonTypeString(v: JsonValue): string {
  if (v === null) return 'Null';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return 'String';
  if (v instanceof JsonNumber) return 'Number';
  return Array.isArray(v) ? 'Array' : 'Object';
}
