// The recovery order of a service, worked out in memory from its dependency subgraph (read in one
// query by recovery-store): strongly connected components (Tarjan) fold cycles into single nodes, and
// the folded graph, a DAG, is layered so that each stage holds what needs only earlier stages.
import type {
  RecoveryCi,
  RecoveryCycle,
  RecoveryOrder,
  RecoveryStage,
  RecoveryWarning,
  RunbookStep,
} from './recovery-model.js';

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const byName = (a: RecoveryCi, b: RecoveryCi) => compare(a.name, b.name) || compare(a.id, b.id);
const byNearness = (a: RecoveryCi, b: RecoveryCi) => a.depth - b.depth || byName(a, b);

/** Tarjan's strongly connected components, iteratively (a long chain must not overflow the stack). */
function components(ids: readonly string[], needs: (id: string) => readonly string[]): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  for (const root of ids) {
    if (index.has(root)) continue;
    const work: [string, number][] = [[root, 0]];
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [v, i] = frame;
      if (i === 0 && !index.has(v)) {
        index.set(v, next);
        low.set(v, next);
        next++;
        stack.push(v);
        onStack.add(v);
      }
      const out = needs(v);
      if (i < out.length) {
        frame[1] = i + 1;
        const w = out[i]!;
        if (!index.has(w)) work.push([w, 0]);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent[0], Math.min(low.get(parent[0])!, low.get(v)!));
      if (low.get(v) === index.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        found.push(component);
      }
    }
  }
  return found;
}

/** The shortest cycle through `start` within `members`, in needs order (start first). */
function cycleThrough(start: RecoveryCi, members: ReadonlySet<string>, cis: ReadonlyMap<string, RecoveryCi>) {
  const pred = new Map<string, string | null>([[start.id, null]]);
  for (const queue = [start.id]; queue.length > 0; ) {
    const id = queue.shift()!;
    const out = cis
      .get(id)!
      .needs.filter((n) => members.has(n))
      .map((n) => cis.get(n)!)
      .sort(byName);
    if (out.some((n) => n.id === start.id)) {
      const path: RecoveryCi[] = [];
      for (let at: string | null = id; at !== null; at = pred.get(at) ?? null) path.unshift(cis.get(at)!);
      return path;
    }
    for (const n of out) {
      if (pred.has(n.id)) continue;
      pred.set(n.id, id);
      queue.push(n.id);
    }
  }
  return [start]; // unreachable for a strongly connected set: kept total
}

/**
 * Stages from the subgraph `cis` (each with the ids it needs, all within `cis`): stage 1 holds what needs
 * nothing, each next stage what needs only earlier stages. A cycle (CIs that need each other, directly or
 * not) is folded: its CIs make one stage flagged `cycle`, placed where the cycle as a whole fits, and the
 * cycle is reported in order; everything else is ordered as usual around it. Within a layer the CIs that
 * are not in a cycle come first as one stage, then each cycle as a stage of its own.
 */
export function orderRecovery(
  serviceId: string,
  cis: readonly RecoveryCi[],
  truncated: boolean,
  steps: readonly RunbookStep[] = [],
): RecoveryOrder {
  const byId = new Map(cis.map((c) => [c.id, c]));
  const needs = (id: string) => byId.get(id)!.needs;
  const comps = components(
    cis.map((c) => c.id),
    needs,
  );
  const compOf = new Map<string, number>();
  comps.forEach((members, i) => {
    for (const id of members) compOf.set(id, i);
  });
  const compNeeds = comps.map(
    (members) => new Set(members.flatMap((id) => needs(id).map((n) => compOf.get(n)!))),
  );
  const isCycle = comps.map((members, i) => members.length > 1 || compNeeds[i]!.has(i));
  compNeeds.forEach((set, i) => {
    set.delete(i);
  });

  // Kahn's algorithm by rounds: a component is ready the round after the last thing it needs.
  const dependents = comps.map(() => [] as number[]);
  const waiting = compNeeds.map((set) => set.size);
  compNeeds.forEach((set, i) => {
    for (const n of set) dependents[n]!.push(i);
  });
  const layers: number[][] = [];
  for (let ready = comps.flatMap((_, i) => (waiting[i] === 0 ? [i] : [])); ready.length > 0; ) {
    layers.push(ready);
    const next: number[] = [];
    for (const c of ready) for (const d of dependents[c]!) if (--waiting[d]! === 0) next.push(d);
    ready = next;
  }

  const stages: RecoveryStage[] = [];
  const cycles: RecoveryCycle[] = [];
  const stageOfComp = new Map<number, number>();
  for (const layer of layers) {
    const plain = layer.filter((c) => !isCycle[c]);
    if (plain.length > 0) {
      const position = stages.length + 1;
      for (const c of plain) stageOfComp.set(c, position);
      stages.push({ position, cycle: false, cis: plain.map((c) => byId.get(comps[c]![0]!)!).sort(byName) });
    }
    const knots = layer
      .filter((c) => isCycle[c])
      .map((c) => {
        const members = comps[c]!.map((id) => byId.get(id)!);
        const start = [...members].sort(byNearness)[0]!;
        return { c, cycle: cycleThrough(start, new Set(comps[c]!), byId), members };
      })
      .sort((a, b) => byNearness(a.cycle[0]!, b.cycle[0]!));
    for (const { c, cycle, members } of knots) {
      const position = stages.length + 1;
      stageOfComp.set(c, position);
      const onCycle = new Set(cycle.map((ci) => ci.id));
      stages.push({
        position,
        cycle: true,
        cis: [...cycle, ...members.filter((m) => !onCycle.has(m.id)).sort(byName)],
      });
      cycles.push({ cis: cycle, stage: position });
    }
  }

  return { serviceId, stages, cycles, truncated, warnings: stepWarnings(steps, byId, compOf, compNeeds) };
}

/**
 * Runbook steps that contradict the order: a step recovering a CI before a later step recovers one it
 * needs (directly or not; CIs of one cycle need each other, so never), and steps on a CI that is not
 * among what the service needs.
 */
function stepWarnings(
  steps: readonly RunbookStep[],
  cis: ReadonlyMap<string, RecoveryCi>,
  compOf: ReadonlyMap<string, number>,
  compNeeds: readonly ReadonlySet<number>[],
): RecoveryWarning[] {
  const reachable = new Map<number, Set<number>>();
  const reach = (from: number) => {
    let found = reachable.get(from);
    if (found) return found;
    found = new Set();
    for (const stack = [...compNeeds[from]!]; stack.length > 0; ) {
      const c = stack.pop()!;
      if (found.has(c)) continue;
      found.add(c);
      stack.push(...compNeeds[c]!);
    }
    reachable.set(from, found);
    return found;
  };
  const warnings: RecoveryWarning[] = [];
  steps.forEach((step, i) => {
    if (!step.ciId) return;
    const ci = cis.get(step.ciId);
    if (!ci) {
      warnings.push({
        code: 'step_outside',
        step: step.position,
        otherStep: null,
        ciId: step.ciId,
        message: `step ${step.position} recovers CI ${step.ciId}, which the service does not need (or is retired, or beyond the depth asked)`,
      });
      return;
    }
    for (const later of steps.slice(i + 1)) {
      const other = later.ciId ? cis.get(later.ciId) : undefined;
      if (!other || compOf.get(other.id) === compOf.get(ci.id)) continue;
      if (!reach(compOf.get(ci.id)!).has(compOf.get(other.id)!)) continue;
      warnings.push({
        code: 'step_order',
        step: step.position,
        otherStep: later.position,
        ciId: ci.id,
        message: `step ${step.position} recovers ${ci.name}, which needs ${other.name}, recovered only in step ${later.position}: recover ${other.name} first`,
      });
    }
  });
  return warnings;
}
