/**
 * Where a text that is not JSON goes wrong, and in which field.
 *
 * JSON.parse says only "Unexpected token '+'" (and not always where). For a
 * refusal that names the field, a text that JSON.parse refused is walked
 * again here, by the grammar of RFC 8259, to find the first offending
 * character, the JSON Pointer of the value being read there, and what the
 * grammar expected. It runs only on text already refused, so it may be
 * slow; it never builds values.
 */
import { pointerSegment } from "./errors.js";

export interface JsonSyntaxProblem {
  /** JSON Pointer of the value (or member) being read where the text goes wrong ("" for the whole text). */
  readonly pointer: string;
  /** 1-based column (UTF-16 code units) of the first offending character. */
  readonly column: number;
  /** What is wrong, for a human: "a number cannot start with \"+\"". */
  readonly message: string;
}

/** Nesting deeper than this is not walked (the caller keeps JSON.parse's own message). */
const MAX_DEPTH = 512;

class Stop {
  constructor(
    readonly at: number,
    readonly pointer: string,
    readonly message: string,
  ) {}
}

/** The first syntax problem of `text`, or undefined if the walk finds none (or nests too deep to walk). */
export function locateJsonSyntaxError(text: string): JsonSyntaxProblem | undefined {
  let i = 0;
  const fail = (pointer: string, message: string, at = i): never => {
    throw new Stop(at, pointer, message);
  };
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const shown = (at = i) =>
    at >= text.length ? "the end of the line" : JSON.stringify(String.fromCodePoint(text.codePointAt(at)!));

  const value = (pointer: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw new Stop(-1, pointer, "");
    ws();
    const c = text[i];
    if (c === "{") return void object(pointer, depth);
    if (c === "[") return void array(pointer, depth);
    if (c === '"') return void string(pointer);
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return void number(pointer);
    for (const word of ["true", "false", "null"]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    if (c === undefined) fail(pointer, "the text ends where a value should be");
    if (c === "+") fail(pointer, 'a number cannot start with "+"');
    if (c === ".") fail(pointer, 'a number cannot start with "." (write 0.5, not .5)');
    if (c === "'") fail(pointer, "strings must be in double quotes");
    if (text.startsWith("NaN", i) || text.startsWith("Infinity", i))
      fail(pointer, "NaN and Infinity are not JSON numbers");
    if (c === "}" || c === "]" || c === ",") fail(pointer, `a value is missing before ${shown()}`);
    fail(pointer, `expected a value (a string, number, object, array, true, false or null), found ${shown()}`);
  };

  const object = (pointer: string, depth: number): void => {
    i++; // {
    ws();
    if (text[i] === "}") {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') {
        if (text[i] === "}") fail(pointer, 'a trailing comma before "}"');
        fail(
          pointer,
          text[i] === undefined
            ? "the object is not closed"
            : `property names must be strings in double quotes, found ${shown()}`,
        );
      }
      const key = string(pointer);
      const member = `${pointer}/${pointerSegment(key)}`;
      ws();
      if (text[i] !== ":") fail(member, `expected ":" after the property name, found ${shown()}`);
      i++;
      value(member, depth + 1);
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return;
      }
      fail(
        member,
        text[i] === undefined ? "the object is not closed" : `expected "," or "}" after the value, found ${shown()}`,
      );
    }
  };

  const array = (pointer: string, depth: number): void => {
    i++; // [
    ws();
    if (text[i] === "]") {
      i++;
      return;
    }
    for (let index = 0; ; index++) {
      const item = `${pointer}/${index}`;
      ws();
      if (text[i] === "]") fail(pointer, 'a trailing comma before "]"');
      value(item, depth + 1);
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "]") {
        i++;
        return;
      }
      fail(
        item,
        text[i] === undefined ? "the array is not closed" : `expected "," or "]" after the value, found ${shown()}`,
      );
    }
  };

  /** A string starting at text[i] === '"'; returns its value (for keys). */
  const string = (pointer: string): string => {
    const start = i;
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) fail(pointer, "the string is not closed", start);
      if (c === '"') {
        i++;
        return JSON.parse(text.slice(start, i)) as string;
      }
      if (c! < " ") fail(pointer, "control characters (a tab, a newline) must be escaped in strings");
      if (c === "\\") {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail(pointer, 'a "\\u" escape needs four hex digits');
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e))
          fail(pointer, `${JSON.stringify(`\\${e ?? ""}`)} is not a JSON escape`);
        i += 2;
        continue;
      }
      i++;
    }
  };

  const digits = () => {
    const start = i;
    while (i < text.length && text[i]! >= "0" && text[i]! <= "9") i++;
    return i - start;
  };

  const number = (pointer: string): void => {
    if (text[i] === "-") i++;
    if (text[i] === "0") {
      i++;
      if (text[i]! >= "0" && text[i]! <= "9") fail(pointer, "a number cannot have a leading zero");
    } else if (digits() === 0) {
      fail(pointer, `expected a digit after "-", found ${shown()}`);
    }
    if (text[i] === ".") {
      i++;
      if (digits() === 0) fail(pointer, `expected a digit after ".", found ${shown()}`);
    }
    if (text[i] === "e" || text[i] === "E") {
      i++;
      if (text[i] === "+" || text[i] === "-") i++;
      if (digits() === 0) fail(pointer, `expected a digit in the exponent, found ${shown()}`);
    }
  };

  try {
    value("", 0);
    ws();
    if (i < text.length) fail("", `text after the JSON value: ${shown()}`);
    return undefined;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    if (e.at < 0) return undefined;
    return { pointer: e.pointer, column: e.at + 1, message: e.message };
  }
}
