import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { expect, it } from 'vitest';
import config from '../../codegen.js';

it('keeps the generated typed operations equal to what codegen makes now (run `npm run codegen` after a change)', async () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const cwd = process.cwd();
  process.chdir(root);
  try {
    const outputs = await generate({ ...config, silent: true }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const onDisk = await readFile(path.resolve(root, output.filename), 'utf8');
      expect(onDisk, output.filename).toBe(output.content);
    }
  } finally {
    process.chdir(cwd);
  }
}, 60_000);
