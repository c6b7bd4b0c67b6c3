import type { OpsGraphBuilder } from '@opsgraph/server';
export function networkGraphql(_builder: OpsGraphBuilder): void {}
