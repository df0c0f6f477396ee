/**
 * The two protobuf printers TF Serving's answers go through: util::MessageToJsonString with
 * add_whitespace (status and metadata: one space of indent per level, ": " after names, a newline
 * after the document) and Message::DebugString (text format, quoted into some error messages).
 * Only what the simulator prints is modelled: objects, arrays, strings and enum/bool literals.
 */

export type ProtoJson = string | boolean | ProtoJsonLiteral | readonly ProtoJson[] | { readonly [key: string]: ProtoJson };

/** An unquoted JSON token (numbers, enums are quoted strings in proto JSON, so this is rare). */
export class ProtoJsonLiteral {
  constructor(readonly text: string) {}
}

/** json/internal/writer.cc MustEscape: JSON escapes plus the characters protobuf escapes for safety. */
function mustUEscape(cp: number): boolean {
  if (cp < 0x20 || cp === 0x3c || cp === 0x3e) return true;
  if (cp >= 0x7f && cp <= 0x9f) return true;
  switch (cp) {
    case 0xad:
    case 0x6dd:
    case 0x70f:
    case 0x17b4:
    case 0x17b5:
    case 0xfeff:
    case 0xfff9:
    case 0xfffa:
    case 0xfffb:
    case 0xe0001:
      return true;
  }
  return (
    (cp >= 0x600 && cp <= 0x603) ||
    (cp >= 0x200b && cp <= 0x200f) ||
    (cp >= 0x2028 && cp <= 0x202e) ||
    (cp >= 0x2060 && cp <= 0x2064) ||
    (cp >= 0x206a && cp <= 0x206f) ||
    (cp >= 0x1d173 && cp <= 0x1d17a) ||
    (cp >= 0xe0020 && cp <= 0xe007f)
  );
}

const u4 = (n: number): string => '\\u' + n.toString(16).padStart(4, '0');

export function protoJsonQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    switch (cp) {
      case 0x0a:
        out += '\\n';
        continue;
      case 0x0d:
        out += '\\r';
        continue;
      case 0x09:
        out += '\\t';
        continue;
      case 0x22:
        out += '\\"';
        continue;
      case 0x0c:
        out += '\\f';
        continue;
      case 0x08:
        out += '\\b';
        continue;
      case 0x5c:
        out += '\\\\';
        continue;
    }
    if (!mustUEscape(cp)) out += ch;
    else if (cp < 0x10000) out += u4(cp);
    else out += u4(0xd800 + ((cp - 0x10000) >> 10)) + u4(0xdc00 + ((cp - 0x10000) & 0x3ff));
  }
  return out + '"';
}

function write(value: ProtoJson, indent: number): string {
  if (typeof value === 'string') return protoJsonQuote(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof ProtoJsonLiteral) return value.text;
  const inner = '\n' + ' '.repeat(indent + 1);
  const close = '\n' + ' '.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return '[' + value.map((v) => inner + write(v, indent + 1)).join(',') + close + ']';
  }
  const entries = Object.entries(value as { readonly [key: string]: ProtoJson });
  if (entries.length === 0) return '{}';
  return '{' + entries.map(([k, v]) => inner + protoJsonQuote(k) + ': ' + write(v, indent + 1)).join(',') + close + '}';
}

/** MessageToJsonString(msg, {add_whitespace: true}): fields in the given (field-number) order. */
export function protoJson(value: ProtoJson): string {
  return write(value, 0) + '\n';
}

// ---------------------------------------------------------------------------------------------
// Text format (DebugString)

export type TextProto = ReadonlyArray<readonly [string, TextProtoValue]>;
export type TextProtoValue = string | number | TextEnum | boolean | TextProto;

/** An enum value, printed bare (dtype: DT_FLOAT). */
export class TextEnum {
  constructor(readonly name: string) {}
}

function cEscape(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b === 0x22) out += '\\"';
    else if (b === 0x27) out += "\\'";
    else if (b === 0x5c) out += '\\\\';
    else if (b < 0x20 || b >= 0x7f) out += '\\' + b.toString(8).padStart(3, '0');
    else out += String.fromCharCode(b);
  }
  return out;
}

/** Message::DebugString(): two-space indent, `name: value` and `name {` ... `}` lines. */
export function debugString(message: TextProto, indent = 0): string {
  const pad = ' '.repeat(indent);
  let out = '';
  for (const [name, value] of message) {
    if (Array.isArray(value)) {
      out += `${pad}${name} {\n${debugString(value as TextProto, indent + 2)}${pad}}\n`;
    } else if (typeof value === 'string') {
      out += `${pad}${name}: "${cEscape(value)}"\n`;
    } else if (value instanceof TextEnum) {
      out += `${pad}${name}: ${value.name}\n`;
    } else {
      out += `${pad}${name}: ${String(value)}\n`;
    }
  }
  return out;
}
