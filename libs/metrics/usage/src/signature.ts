/**
 * The signed payload of an analysts' API request: the method in upper case, ":", the path with the
 * query string exactly as sent, and for a request with a body ":" followed by its top-level
 * parameters sorted by key (code-unit order) as key=value joined by "&", null (and undefined) values
 * left out. Values that are objects or arrays are written as JSON; strings, numbers and booleans as
 * their text.
 */
export function signaturePayload(method: string, pathWithQuery: string, body?: Readonly<Record<string, unknown>> | null): string {
  const head = `${method.toUpperCase()}:${pathWithQuery}`;
  if (body === undefined || body === null) return head;
  const params = Object.keys(body)
    .filter((key) => body[key] !== null && body[key] !== undefined)
    .sort()
    .map((key) => {
      const value = body[key];
      return `${key}=${typeof value === 'object' ? JSON.stringify(value) : String(value)}`;
    });
  return `${head}:${params.join('&')}`;
}
