import type { AccessService } from '../access/service.js';
import type { ApprovalsService } from '../approvals/service.js';
import type { ChangesService } from '../changes/service.js';
import type { CmdbService } from '../cmdb/service.js';
import type { EventsService } from '../events/service.js';
import type { IncidentsService } from '../incidents/service.js';
import type { NotificationsService } from '../notifications/service.js';
import type { RecoveryService } from '../operations/recovery.js';
import type { OperationsService } from '../operations/service.js';
import type { ProblemsService } from '../problems/service.js';
import type { RequestsService } from '../requests/service.js';
import type { ServiceHealthService } from '../service-health/service.js';
import type { CapacityService } from '../service-levels/capacity.js';
import type { ServiceLevelsService } from '../service-levels/service.js';
import type { SlasService } from '../slas/service.js';
import type { TopologyService } from '../topology/service.js';
import type { ActivityService } from './activity.js';

/** Core's services, reachable as `og.<name>` and, from a service, `kernel.services.<name>`. */
export interface CoreServices {
  readonly activity: ActivityService;
  readonly cmdb: CmdbService;
  readonly access: AccessService;
  readonly topology: TopologyService;
  /** Event management: ingestion, alerts. */
  readonly events: EventsService;
  /** Change management: maintenance windows. */
  readonly changes: ChangesService;
  /** Incident management. */
  readonly incidents: IncidentsService;
  /** Incident SLAs: definitions by priority, timers, the breach sweep. */
  readonly slas: SlasService;
  /** Generic approvals: ordered steps with quorum on changes, requests …, decided by eligible users. */
  readonly approvals: ApprovalsService;
  /** Problem management and the known-error database. */
  readonly problems: ProblemsService;
  /** Major incidents' watchers, service subscriptions and outage notifications (outbox, delivery, retries). */
  readonly notifications: NotificationsService;
  /** Request fulfilment: the service catalog, requests, their approvals and fulfilment tasks. */
  readonly requests: RequestsService;
  /** Availability: SLOs on business services, outages, uptime, error budget and burn rate. */
  readonly serviceLevels: ServiceLevelsService;
  /** Capacity management: metrics on CIs, samples, threshold alerts, exhaustion forecasts. */
  readonly capacity: CapacityService;
  /** Disaster recovery: DR plans per business service, recovery order from topology, DR tests. */
  readonly recovery: RecoveryService;
  /** IT operations control: scheduled jobs and their runs, the missed/overrun sweep, backup compliance. */
  readonly operations: OperationsService;
  /** Business-service health (up, degraded, down, maintenance) from alerts and impact, kept incrementally. */
  readonly serviceHealth: ServiceHealthService;
}

/**
 * Plugin services by plugin name, reachable as `og.plugins.<name>`. Each plugin package adds its entry
 * by module augmentation:
 *
 *   declare module '@opsgraph/core' { interface OpsGraphPlugins { network: { ipam: Ipam } } }
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in plugin packages
export interface OpsGraphPlugins {}
