/** @module status and inlineContent: the proxy answering by itself. */
import { readArgs } from "../util/args.ts";
import type { FilterSpec } from "./types.ts";

export const status: FilterSpec = {
  name: "status",
  create(args) {
    const a = readArgs("status", args);
    a.count(1, 1);
    const code = a.number(0, "status code");
    // Bun's Response refuses 1xx other than 101, and 101 makes no sense on a proxied response.
    if (!Number.isInteger(code) || code < 200 || code > 599) {
      throw a.error(0, "status code", `must be an integer from 200 to 599, got ${code}`);
    }
    // Skipper sets it on the way back, so it also overrides a shunt's or a backend's status.
    return {
      response(ctx) {
        if (ctx.response) ctx.response.status = code;
      },
    };
  },
};

export const inlineContent: FilterSpec = {
  name: "inlineContent",
  create(args) {
    const a = readArgs("inlineContent", args);
    a.count(1, 2);
    const text = a.string(0, "text");
    const type = args.length > 1 ? a.string(1, "content type") : sniffContentType(text);
    const length = String(new TextEncoder().encode(text).byteLength);
    return {
      request(ctx) {
        const headers = new Headers({ "content-type": type, "content-length": length });
        ctx.serve({ status: 200, headers, body: text });
      },
    };
  },
};

/** The part of Go's http.DetectContentType that text can hit: HTML, XML, else plain text. */
export function sniffContentType(text: string): string {
  const head = text.trimStart().slice(0, 512).toLowerCase();
  const html = ["<!doctype html", "<html", "<head", "<script", "<iframe", "<h1", "<div", "<font", "<table", "<a", "<style", "<title", "<b", "<body", "<br", "<p", "<!--"];
  for (const tag of html) {
    const next = head.charAt(tag.length);
    if (head.startsWith(tag) && (next === " " || next === ">")) return "text/html; charset=utf-8";
  }
  if (head.startsWith("<?xml")) return "text/xml; charset=utf-8";
  return "text/plain; charset=utf-8";
}
