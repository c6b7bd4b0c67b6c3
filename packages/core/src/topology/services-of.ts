import type { ValidationIssue } from '../kernel/errors.js';
import type { WriteScope } from '../kernel/kernel.js';

/**
 * The business services a failure of `ciId` reaches, itself included (sorted ids), for the records that carry them
 * (incidents, problems); when `ciId` names no live CI, an issue naming `field` and no services.
 */
export async function servicesOfLiveCi(
  scope: WriteScope,
  ciId: string | null,
  issues: ValidationIssue[],
  field = 'ciId',
): Promise<string[]> {
  if (!ciId) return [];
  const live = await scope.db
    .selectFrom('cis')
    .select('id')
    .where('id', '=', ciId)
    .where('retiredAt', 'is', null)
    .executeTakeFirst();
  if (!live) {
    issues.push({ path: field, message: `no live CI ${ciId}` });
    return [];
  }
  const { services } = await scope.kernel.services.topology.impactOf([ciId]);
  return services.map((s) => s.id).sort();
}
