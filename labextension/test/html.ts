/** Helpers to look into static markup and hook-free React trees in the view tests. */

import * as React from 'react';
import { expect } from 'vitest';

/** Elements of a rendered tree matching `pred`, expanding (hook-free) function components. */
export function findAll(
  node: React.ReactNode,
  pred: (el: React.ReactElement<any>) => boolean,
  out: React.ReactElement<any>[] = []
): React.ReactElement<any>[] {
  if (Array.isArray(node)) {
    node.forEach(n => findAll(n, pred, out));
  } else if (React.isValidElement(node)) {
    const el = node as React.ReactElement<any>;
    if (typeof el.type === 'function') {
      findAll((el.type as (p: unknown) => React.ReactNode)(el.props), pred, out);
    } else {
      if (pred(el)) {
        out.push(el);
      }
      findAll(el.props.children, pred, out);
    }
  }
  return out;
}

export const byTestId = (id: string) => (el: React.ReactElement<any>) =>
  el.props['data-testid'] === id;

/** The value of `attr` on each element with `testid`, in document order. */
export function attrs(html: string, testid: string, attr: string): string[] {
  const re = new RegExp(`data-testid="${testid}"[^>]*?${attr}="([^"]*)"`, 'g');
  return Array.from(html.matchAll(re), m => m[1]);
}

/** The outer HTML of the element with `testid` and `attr="value"`, from its tag up to `close`. */
export function element(
  html: string,
  testid: string,
  attr: string,
  value: string,
  close = '</tr>'
): string {
  const at = html.indexOf(`data-testid="${testid}" ${attr}="${value}"`);
  expect(at).toBeGreaterThanOrEqual(0);
  const start = html.lastIndexOf('<', at);
  return html.slice(start, html.indexOf(close, at));
}

/** The text inside the first element with `testid` (tags stripped). */
export function text(html: string, testid: string, from = 0): string {
  const start = html.indexOf(`data-testid="${testid}"`, from);
  expect(start).toBeGreaterThanOrEqual(0);
  const open = html.indexOf('>', start) + 1;
  const tag = html.lastIndexOf('<', start);
  const name = html.slice(tag + 1).match(/^\w+/)![0];
  let depth = 1;
  const re = new RegExp(`<(/?)${name}\\b[^>]*>`, 'g');
  re.lastIndex = open;
  let m: RegExpExecArray | null;
  let end = html.length;
  while ((m = re.exec(html))) {
    depth += m[1] ? -1 : 1;
    if (depth === 0) {
      end = m.index;
      break;
    }
  }
  return html.slice(open, end).replace(/<[^>]*>/g, '');
}

/** How many elements carry `testid`. */
export function count(html: string, testid: string): number {
  return html.split(`data-testid="${testid}"`).length - 1;
}
