// The container image is reproducible: every FROM is pinned by digest and every apt package has an
// explicit version (issue 10), and it ships the promoter only (no test harness, no benches).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../', import.meta.url);
const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** Dockerfile lines with `\` continuations joined and comments dropped. */
function instructions(text: string): string[] {
  const joined = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** `${NAME}` and `$NAME` replaced by the ARG defaults seen so far (global and per stage). */
function expand(text: string, args: Map<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => args.get(braced ?? bare ?? '') ?? whole);
}

/** What makes the image not reproducible: an unpinned base or an apt package without a version. */
function reproducibilityProblems(dockerfile: string): string[] {
  const problems: string[] = [];
  const args = new Map<string, string>();
  const stages = new Set<string>();
  for (const line of instructions(dockerfile)) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const body = rest.join(' ');
    switch (keyword.toUpperCase()) {
      case 'ARG': {
        const match = /^(\w+)=(?:"([^"]*)"|(\S*))/.exec(body);
        if (match?.[1]) args.set(match[1], match[2] ?? match[3] ?? '');
        break;
      }
      case 'FROM': {
        const words = body.split(/\s+/).filter((w) => !w.startsWith('--'));
        const image = expand(words[0] ?? '', args);
        if (!stages.has(image) && !DIGEST.test(image)) problems.push(`FROM ${image} is not pinned by digest (name@sha256:<64 hex>)`);
        const as = words.findIndex((w) => w.toUpperCase() === 'AS');
        if (as >= 0 && words[as + 1]) stages.add(words[as + 1] as string);
        break;
      }
      case 'RUN': {
        for (const command of expand(body, args).split(/&&|;|\|\|/)) {
          const words = command.trim().split(/\s+/).map((w) => w.replace(/^["']|["']$/g, ''));
          // `apt-get [options] install ...`: the packages are the words after `install`.
          const install = words.findIndex((w, i) => w === 'install' && words.slice(0, i).some((x) => /(^|\/)apt(-get)?$/.test(x)));
          if (install < 0) continue;
          for (const word of words.slice(install + 1)) {
            if (word.startsWith('-')) continue;
            if (!/^[a-z0-9][a-z0-9+.-]*=\S+$/.test(word)) problems.push(`apt package ${word} has no explicit version (name=version)`);
          }
        }
        break;
      }
      default:
        break;
    }
  }
  return problems;
}

describe('container image', () => {
  const dockerfile = readFileSync(new URL('Dockerfile', ROOT), 'utf8');

  it('pins every base image by digest and every apt package by version', () => {
    expect(reproducibilityProblems(dockerfile)).toEqual([]);
    const froms = instructions(dockerfile).filter((line) => /^FROM\s/i.test(line));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    // The digest sits on a Node >= 20.19 tag (package.json engines) on Debian 12 (the apt pins).
    expect(dockerfile).toMatch(/ARG NODE_IMAGE=node:20\.(19|[2-9]\d)\.\d+-bookworm-slim@sha256:[0-9a-f]{64}\n/);
  });

  it('the check catches an unpinned base, a tag-only base and a loose apt package', () => {
    const loose = [
      'ARG NODE_IMAGE=node:20-bookworm-slim',
      'FROM ${NODE_IMAGE} AS build',
      'FROM build',
      'FROM debian:bookworm-slim',
      'ARG GIT_VERSION=1:2.39.5-0+deb12u3',
      'RUN apt-get update \\',
      ' && apt-get install -y --no-install-recommends "git=${GIT_VERSION}" ca-certificates curl=',
    ].join('\n');
    expect(reproducibilityProblems(loose)).toEqual([
      'FROM node:20-bookworm-slim is not pinned by digest (name@sha256:<64 hex>)',
      'FROM debian:bookworm-slim is not pinned by digest (name@sha256:<64 hex>)',
      'apt package ca-certificates has no explicit version (name=version)',
      'apt package curl= has no explicit version (name=version)',
    ]);
  });

  it('ships the promoter only: the build compiles src without tests, and copies neither test/ nor bench/', () => {
    const tsconfig = JSON.parse(readFileSync(new URL('tsconfig.image.json', ROOT), 'utf8')) as { include: string[]; exclude: string[] };
    expect(tsconfig.include).toEqual(['src/**/*.ts']);
    expect(tsconfig.exclude).toContain('**/*.test.ts');
    const copies = instructions(dockerfile).filter((line) => /^COPY\s/i.test(line));
    for (const copy of copies) expect(copy).not.toMatch(/\s(\.\/)?(test|bench|scripts)\b|\sCOPY\s+\.\s/);
    expect(dockerfile).toMatch(/CMD \["run", "--config", "[^"]+"\]/);
  });
});
