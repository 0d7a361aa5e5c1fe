import { isAlias, isCollection, isMap, isNode, isPair, isScalar, isSeq, visit, type Document, type Node } from 'yaml';

// What a scenario file (or handover.yaml) may not use, found on the YAML AST before it becomes data: each of these
// would otherwise end as an exception inside the yaml library (an alias with no anchor, a cycle),
// or silently as something other than what was written (a mapping as a key, a merge, a binary).

export interface ShapeProblem {
  offset: number;
  message: string;
}

/** Tags whose data zod can judge: the YAML 1.2 core schema. Anything else (!!binary, !!set, !foo…) is refused here, once. */
const CORE_TAGS = new Set(['str', 'int', 'float', 'bool', 'null', 'map', 'seq'].map((t) => `tag:yaml.org,2002:${t}`));

/** Call only when nestingProblem() found none: visit() recurses. */
export function yamlShapeProblems(doc: Document, kind = 'scenario files'): ShapeProblem[] {
  const problems: ShapeProblem[] = [];
  const add = (node: { range?: readonly [number, number, number] | null } | null | undefined, fallback: number, message: string): void => {
    problems.push({ offset: node?.range?.[0] ?? fallback, message });
  };
  // The anchors seen so far, in document order: an alias refers to the last one before it (Alias.resolve
  // would walk the whole document again for each alias).
  const anchors = new Map<string, Node>();
  visit(doc, {
    Alias(_key, alias, path) {
      const target = anchors.get(alias.source);
      if (target === undefined) add(alias, 0, `alias *${alias.source} has no anchor &${alias.source} before it`);
      else if (path.includes(target)) add(alias, 0, `alias *${alias.source} is inside the node it refers to (a cycle)`);
    },
    Pair(_key, pair, path) {
      const parent = path.at(-1);
      const at = isMap(parent) ? (parent.range?.[0] ?? 0) : 0;
      const key: unknown = pair.key;
      if (key === null || (isScalar(key) && key.value === null && !key.source)) {
        add(isNode(key) ? key : isNode(pair.value) ? pair.value : null, at, 'a mapping key is missing');
      } else if (isScalar(key) && (key.value === '<<' || (typeof key.value === 'symbol' && key.value.description === '<<')) && key.type === 'PLAIN') {
        add(key, at, `merge keys (<<) are not supported in ${kind}: write the fields out`);
      } else if (isCollection(key) || isAlias(key)) {
        add(key, at, `a key must be a plain value, not ${isAlias(key) ? 'an alias' : isSeq(key) ? 'a sequence' : 'a mapping'}`);
      }
    },
    Node(_key, node) {
      if (node.anchor !== undefined) anchors.set(node.anchor, node);
      if (node.tag !== undefined && !CORE_TAGS.has(node.tag)) {
        add(node, 0, `tag ${node.tag.replace('tag:yaml.org,2002:', '!!')} is not supported in ${kind}`);
      }
    },
  });
  return problems;
}

/** Deeper than any scenario needs; checked without recursion, so visit() and toJS never meet a stack overflow. */
export const MAX_DEPTH = 64;

export function nestingProblem(doc: Document): ShapeProblem | undefined {
  const stack: [unknown, number][] = [[doc.contents, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [node, depth] = top;
    if (!isCollection(node)) continue;
    if (depth >= MAX_DEPTH) return { offset: node.range?.[0] ?? 0, message: `nested more than ${MAX_DEPTH} levels deep` };
    for (const item of node.items as unknown[]) {
      if (isPair(item)) stack.push([item.key, depth + 1], [item.value, depth + 1]);
      else stack.push([item, depth + 1]);
    }
  }
  return undefined;
}
