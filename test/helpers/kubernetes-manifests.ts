/**
 * Loads and checks Kubernetes manifests without a cluster, as strictly as the API server would
 * take them:
 *
 * - YAML is parsed as YAML 1.1, the dialect kubectl reads (0440 is octal there), and duplicate
 *   keys or any parser warning are errors;
 * - each object is validated by kubernetes-models against the schema of its apiVersion and kind,
 *   generated from Kubernetes' own OpenAPI document: types, formats and required fields;
 * - those schemas let unknown fields through (a misspelt `readinesProbe` would pass), so every
 *   object is also type-checked by the TypeScript compiler as an object literal of the model's
 *   interface, whose excess-property check rejects any field the API does not define.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
}

export interface Manifest {
  /** Where it came from, for messages: "daemonset.yaml#0". */
  readonly source: string;
  readonly object: KubeObject;
}

function isKubeObject(value: unknown): value is KubeObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return typeof v['apiVersion'] === 'string' && typeof v['kind'] === 'string';
}

/** Every document of a multi-document YAML text; throws on a syntax error, a warning or a document that is no object. */
export function parseManifests(name: string, text: string): Manifest[] {
  const docs = parseAllDocuments(text, { version: '1.1', uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${name}: not a YAML stream`);
  const out: Manifest[] = [];
  docs.forEach((doc, i) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${name}#${i}: ${problems.map((p) => p.message).join('; ')}`);
    const object: unknown = doc.toJS({ maxAliasCount: 0 });
    if (object === null || object === undefined) return; // an empty document (a trailing ---)
    if (!isKubeObject(object)) throw new Error(`${name}#${i}: not an object with apiVersion and kind`);
    out.push({ source: `${name}#${i}`, object });
  });
  return out;
}

export function loadManifestFile(dir: string, name: string): Manifest[] {
  return parseManifests(name, readFileSync(join(dir, name), 'utf8'));
}

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: unknown): { validate(): void };
}

function isModelClass(value: unknown): value is ModelClass {
  return typeof value === 'function' && typeof (value as { apiVersion?: unknown }).apiVersion === 'string' && typeof (value as { kind?: unknown }).kind === 'string';
}

/** The kubernetes-models class of an apiVersion and kind, or why there is none. */
async function modelOf(object: KubeObject): Promise<ModelClass | string> {
  let group: Record<string, unknown>;
  try {
    group = (await import(`kubernetes-models/${object.apiVersion}`)) as Record<string, unknown>;
  } catch {
    return `no Kubernetes schema for apiVersion "${object.apiVersion}"`;
  }
  const model = Object.values(group).find((v): v is ModelClass => isModelClass(v) && v.apiVersion === object.apiVersion && v.kind === object.kind);
  return model ?? `no Kubernetes schema for kind "${object.kind}" in ${object.apiVersion}`;
}

/** What the object's schema says is wrong with it (types, formats, required fields); empty when valid. */
export async function schemaErrors(object: KubeObject): Promise<string[]> {
  const model = await modelOf(object);
  if (typeof model === 'string') return [model];
  try {
    new model(object).validate();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

/** The JSON path of the property a diagnostic points at: spec.template.spec.containers[0].readinesProbe */
function pathAt(source: ts.SourceFile, position: number): string {
  let node: ts.Node = source;
  for (;;) {
    const child = node.getChildren(source).find((c) => c.getStart(source) <= position && position < c.getEnd());
    if (child === undefined) break;
    node = child;
  }
  const parts: string[] = [];
  for (let n: ts.Node | undefined = node; n !== undefined; n = n.parent) {
    const parent: ts.Node | undefined = n.parent;
    if (ts.isPropertyAssignment(n) && ts.isStringLiteral(n.name)) parts.unshift(`.${n.name.text}`);
    else if (parent !== undefined && ts.isArrayLiteralExpression(parent)) parts.unshift(`[${parent.elements.indexOf(n as ts.Expression)}]`);
    if (ts.isVariableDeclaration(n)) break;
  }
  return parts.join('').replace(/^\./, '');
}

/**
 * Fields the API does not know, and type mismatches, found by compiling each object as a literal
 * of its kubernetes-models interface. `root` is the directory whose node_modules has
 * kubernetes-models; nothing is written there (the source is handed to the compiler in memory).
 */
export function unknownFieldErrors(root: string, manifests: readonly Manifest[]): string[] {
  const fileName = join(root, '__kubernetes_manifests_check__.ts');
  const lines: string[] = [];
  manifests.forEach((m, i) => {
    const { apiVersion, kind } = m.object;
    lines.push(`import type { I${kind} as T${i} } from 'kubernetes-models/${apiVersion}/${kind}';`);
  });
  manifests.forEach((m, i) => lines.push(`export const m${i}: T${i} = ${JSON.stringify(m.object, null, 1)};`));
  const text = lines.join('\n');

  const options: ts.CompilerOptions = {
    strict: true,
    exactOptionalPropertyTypes: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
  };
  const host = ts.createCompilerHost(options);
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, ...rest) => (name === fileName ? source : getSourceFile(name, ...rest));
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);

  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, ' ');
    if (d.file !== source || d.start === undefined) return message;
    const at = pathAt(source, d.start);
    const decl = /^export const m(\d+)/.exec(text.slice(text.lastIndexOf('\nexport const m', d.start) + 1));
    const m = decl === null ? undefined : manifests[Number(decl[1])];
    return `${m?.source ?? '?'} ${at}: ${message}`;
  });
}
