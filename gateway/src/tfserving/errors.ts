/**
 * TF Serving's error texts and their HTTP mapping, word for word, so that an answer produced by the
 * gateway (no replica touched) cannot be told apart from one produced by a replica.
 */

/** google.rpc / absl status codes as TF Serving names them. */
export type TfErrorCode =
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

/** http_server.cc ToHTTPStatusCode. */
export const HTTP_STATUS_OF: Readonly<Record<TfErrorCode, number>> = {
  CANCELLED: 499,
  UNKNOWN: 500,
  INVALID_ARGUMENT: 400,
  DEADLINE_EXCEEDED: 504,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429,
  FAILED_PRECONDITION: 400,
  ABORTED: 409,
  OUT_OF_RANGE: 400,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DATA_LOSS: 500,
  UNAUTHENTICATED: 401,
};

/**
 * The body TF Serving writes for an error: rapidjson's PrettyWriter output of {"error": message}
 * (four-space indent), served as application/json.
 */
export function errorBody(message: string): string {
  return `{\n    "error": ${rapidjsonQuote(message)}\n}`;
}

/**
 * A JSON string literal as rapidjson's Writer writes it: only '"', '\\' and control characters
 * are escaped, control characters other than \b \t \n \f \r as \u00XX with UPPERCASE hex digits.
 * JSON.stringify uses lowercase hex, so a model name like `a%0Bb` would come out differently.
 */
export function rapidjsonQuote(text: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c) continue;
    if (i > start) out += text.slice(start, i);
    start = i + 1;
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x09:
        out += '\\t';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0d:
        out += '\\r';
        break;
      default:
        out += '\\u00' + HEX_UPPER.charAt(c >> 4) + HEX_UPPER.charAt(c & 15);
    }
  }
  if (start === 0) return '"' + text + '"';
  return out + text.slice(start) + '"';
}

const HEX_UPPER = '0123456789ABCDEF';

export const JSON_CONTENT_TYPE = 'application/json';

export function malformedRequest(method: string, path: string): string {
  return `Malformed request: ${method} ${path}`;
}

export function missingModelName(): string {
  return 'Missing model name in request.';
}

export function badVersionNumber(text: string): string {
  return `Failed to convert version: ${text} to numeric.`;
}

/** Inference or metadata for a model the server does not have (basic_manager.cc). */
export function servableNotFoundLatest(model: string): string {
  return `Servable not found for request: Latest(${model})`;
}

/** Inference or metadata for a version that is not loaded (unknown, LOADING, UNLOADING, END). */
export function servableNotFoundSpecific(model: string, version: string): string {
  return `Servable not found for request: Specific(${model}, ${version})`;
}

/** Status request for an unknown model (get_model_status_impl.cc). */
export function noVersionsOfModel(model: string): string {
  return `Could not find any versions of model ${model}`;
}

/** Status request for a version the server never had. */
export function noSuchVersion(model: string, version: string): string {
  return `Could not find version ${version} of model ${model}`;
}

/** Inference with a label the server does not define (server_core.cc). */
export function unrecognizedLabel(label: string): string {
  return `Unrecognized servable version label: ${label}`;
}

export function bothVersionAndLabel(version: string, label: string): string {
  return `Both model version (${version}) and model version label (${label}) cannot be supplied.`;
}

/**
 * libevent's evhttp_send_error page: TF Serving answers anything outside /v1/ with it (404), and a
 * request line it cannot decode with the 400 variant.
 */
export function libeventErrorPage(status: 400 | 404 | 501): string {
  const reason = status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : 'Not Implemented';
  return `<HTML><HEAD>\n<TITLE>${status} ${reason}</TITLE>\n</HEAD><BODY>\n<H1>${reason}</H1>\n</BODY></HTML>\n`;
}
