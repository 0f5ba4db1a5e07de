/**
 * The domain is pure: it imports nothing of ours from outside src/domain, no Node built-ins and
 * no I/O packages. Checked on the real import graph with the TypeScript parser, not a regex.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const DOMAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/domain');

/** Packages the domain may import for types only: their runtime never enters the domain. */
const TYPE_ONLY_PACKAGES = new Set(['@kubernetes/client-node', 'zod']);

/**
 * Packages the domain may import at runtime: pure libraries with no I/O. zod carries the
 * artifact spec's validation schemas (src/domain/artifact-spec.ts), which are data, not I/O.
 */
const PURE_PACKAGES = new Set(['zod']);

interface ImportFact {
  readonly file: string;
  readonly specifier: string;
  readonly typeOnly: boolean;
}

function domainFiles(dir: string = DOMAIN): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return domainFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): ImportFact[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const facts: ImportFact[] = [];
  const name = relative(DOMAIN, file);
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const allNamedTypeOnly =
        clause !== undefined &&
        clause.name === undefined &&
        bindings !== undefined &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 &&
        bindings.elements.every((e) => e.isTypeOnly);
      facts.push({ file: name, specifier: node.moduleSpecifier.text, typeOnly: Boolean(clause?.isTypeOnly) || allNamedTypeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      facts.push({ file: name, specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node)) {
      const isDynamicImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      const [arg] = node.arguments;
      if ((isDynamicImport || isRequire) && arg) {
        facts.push({ file: name, specifier: ts.isStringLiteral(arg) ? arg.text : '<computed>', typeOnly: false });
      }
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      facts.push({ file: name, specifier: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return facts;
}

/** Why an import breaks the boundary, or undefined when it is allowed. */
function violation(fact: ImportFact): string | undefined {
  const { file, specifier, typeOnly } = fact;
  if (specifier.startsWith('.')) {
    if (!specifier.startsWith('./')) return `${file} imports ${specifier}: outside src/domain`;
    const target = resolve(DOMAIN, dirname(file), specifier);
    if (!target.startsWith(DOMAIN + '/')) return `${file} imports ${specifier}: outside src/domain`;
    if (!specifier.endsWith('.js')) return `${file} imports ${specifier}: relative imports end in .js`;
    return undefined;
  }
  if (typeOnly && TYPE_ONLY_PACKAGES.has(specifier)) return undefined;
  if (PURE_PACKAGES.has(specifier)) return undefined;
  return `${file} imports ${specifier}${typeOnly ? ' (type-only)' : ''}: the domain imports no packages but type-only @kubernetes/client-node and pure zod`;
}

describe('the domain import boundary', () => {
  const files = domainFiles();

  it('finds the domain files', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it('lets every domain file import only ./ paths inside src/domain, or allowed packages', () => {
    const violations = files.flatMap(importsOf).map(violation).filter((v) => v !== undefined);
    expect(violations).toEqual([]);
  });

  it('catches an import that leaves the domain, a Node built-in, and a runtime import of client-node', () => {
    expect(violation({ file: 'x.ts', specifier: '../store/orm.js', typeOnly: false })).toBeDefined();
    expect(violation({ file: 'x.ts', specifier: './../graphql/builder.js', typeOnly: false })).toBeDefined();
    expect(violation({ file: 'x.ts', specifier: 'node:fs', typeOnly: false })).toBeDefined();
    expect(violation({ file: 'x.ts', specifier: '@kubernetes/client-node', typeOnly: false })).toBeDefined();
    expect(violation({ file: 'x.ts', specifier: '@kubernetes/client-node', typeOnly: true })).toBeUndefined();
    expect(violation({ file: 'x.ts', specifier: './model', typeOnly: false })).toBeDefined();
  });

  it('reads type-only imports, re-exports and dynamic imports from source', () => {
    const facts = importsOf(join(DOMAIN, 'pod-observation.ts'));
    expect(facts).toContainEqual({ file: 'pod-observation.ts', specifier: '@kubernetes/client-node', typeOnly: true });
  });
});
