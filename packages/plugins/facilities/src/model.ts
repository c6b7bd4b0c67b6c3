import type { Generated, Selectable } from 'kysely';
import { z } from 'zod';

/*
 * What the CMDB does not hold, keyed by CI id: the CI (its name, status, history) is the CMDB's, the
 * position, capacity and thresholds are ours. Containment and power are CMDB relationships too, so
 * impact analysis and maintenance windows follow them; these tables make the checks fast and exact.
 */

export const locationKinds = ['region', 'site', 'building', 'room'] as const;
export type LocationKind = (typeof locationKinds)[number];

/** Which kind of location may hold which: a region may hold regions (NetBox's nested regions). */
export const allowedParents: Record<LocationKind, readonly LocationKind[]> = {
  region: ['region'],
  site: ['region'],
  building: ['site'],
  room: ['building'],
};

export const rackFaces = ['front', 'rear'] as const;
export type RackFace = (typeof rackFaces)[number];

export const powerPhases = ['single', 'three'] as const;
export type PowerPhase = (typeof powerPhases)[number];

export const sensorKinds = ['temperature', 'humidity'] as const;
export type SensorKind = (typeof sensorKinds)[number];

export const sensorStates = ['ok', 'warning', 'critical'] as const;
export type SensorState = (typeof sensorStates)[number];

export type FacilitiesTables = {
  facilitiesLocations: {
    ciId: string;
    kind: LocationKind;
    parentId: string | null;
    address: string | null;
    createdAt: Date;
  };
  facilitiesRacks: {
    ciId: string;
    roomId: string;
    uHeight: number;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  facilitiesPlacements: {
    deviceId: string;
    rackId: string;
    position: number;
    height: number;
    face: RackFace;
    fullDepth: boolean;
    createdAt: Date;
  };
  facilitiesPowerPanels: {
    ciId: string;
    locationId: string;
    createdAt: Date;
  };
  facilitiesPowerFeeds: {
    ciId: string;
    panelId: string;
    voltage: number;
    amperage: number;
    phase: PowerPhase;
    maxUtilization: number;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  facilitiesPdus: {
    ciId: string;
    rackId: string;
    feedId: string;
    capacityW: number;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  facilitiesPowerDraws: {
    pduId: string;
    deviceId: string;
    watts: number;
    createdAt: Date;
  };
  facilitiesSensors: {
    ciId: string;
    locationId: string;
    kind: SensorKind;
    warningAbove: number | null;
    criticalAbove: number | null;
    warningBelow: number | null;
    criticalBelow: number | null;
    lastValue: number | null;
    lastReadAt: Date | null;
    state: Generated<SensorState>;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
};

type Row<T extends keyof FacilitiesTables> = Selectable<FacilitiesTables[T]>;

/** A region, site, building or room: a CI of that class, contained in its parent. */
export interface Location extends Row<'facilitiesLocations'> {
  readonly name: string;
}

export interface Rack extends Row<'facilitiesRacks'> {
  readonly name: string;
}

/** A device (any CI) mounted in a rack: U `position` (its lowest U) up to `position + height - 1`. */
export interface Placement extends Row<'facilitiesPlacements'> {
  readonly deviceName: string;
  readonly deviceClass: string;
}

export interface PowerPanel extends Row<'facilitiesPowerPanels'> {
  readonly name: string;
}

export interface PowerFeed extends Row<'facilitiesPowerFeeds'> {
  readonly name: string;
  /** Usable watts: volts × amps (× √3 for three-phase) × max utilization. */
  readonly capacityW: number;
  /** Watts allocated to devices through the PDUs it feeds. */
  readonly allocatedW: number;
}

export interface Pdu extends Row<'facilitiesPdus'> {
  readonly name: string;
  /** Watts allocated to the devices that draw from it. */
  readonly allocatedW: number;
}

export interface PowerDraw extends Row<'facilitiesPowerDraws'> {
  readonly deviceName: string;
}

export interface PowerBudget {
  readonly capacityW: number;
  readonly allocatedW: number;
  /** capacity − allocated (negative only if a capacity was lowered below what is allocated). */
  readonly headroomW: number;
}

export interface RackPowerBudget extends PowerBudget {
  readonly rackId: string;
  readonly rackName: string;
  readonly pdus: readonly Pdu[];
}

export interface RoomPowerBudget extends PowerBudget {
  readonly roomId: string;
  readonly roomName: string;
  readonly racks: readonly RackPowerBudget[];
}

export interface Sensor extends Row<'facilitiesSensors'> {
  readonly name: string;
}

/** What occupies one face of one U. */
export interface ElevationOccupant {
  readonly deviceId: string;
  readonly name: string;
  readonly position: number;
  readonly height: number;
}

export interface ElevationUnit {
  readonly u: number;
  readonly front: ElevationOccupant | null;
  readonly rear: ElevationOccupant | null;
}

export interface RackElevation {
  readonly rackId: string;
  readonly rackName: string;
  readonly uHeight: number;
  /** Top U first, as a rack is drawn. */
  readonly units: readonly ElevationUnit[];
  readonly placements: readonly Placement[];
}

const uuid = (what: string) => z.uuid(`must be ${what} id`);
const name = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const positiveInt = (max: number) =>
  z.number().int('must be an integer').min(1, 'must be 1 or more').max(max, `must be at most ${max}`);
const threshold = z.number().finite().nullish();

export const createLocationInput = z.strictObject({
  kind: z.enum(locationKinds),
  name,
  /** A region may stand alone; a site's parent is a region (optional), a building's a site, a room's a building. */
  parentId: uuid('a location').nullish(),
  address: z.string().trim().min(1).max(1000).nullish(),
});
export type CreateLocationInput = z.input<typeof createLocationInput>;

export const MAX_RACK_UNITS = 100;

export const createRackInput = z.strictObject({
  name,
  roomId: uuid('a room'),
  uHeight: positiveInt(MAX_RACK_UNITS).default(42),
});
export type CreateRackInput = z.input<typeof createRackInput>;

export const updateRackInput = z.strictObject({
  version: z.number().int().positive(),
  uHeight: positiveInt(MAX_RACK_UNITS),
});
export type UpdateRackInput = z.input<typeof updateRackInput>;

export const placeDeviceInput = z.strictObject({
  rackId: uuid('a rack'),
  deviceId: uuid('a CI'),
  /** The lowest U the device occupies. */
  position: positiveInt(MAX_RACK_UNITS),
  height: positiveInt(MAX_RACK_UNITS).default(1),
  face: z.enum(rackFaces).default('front'),
  /** A full-depth device takes the U on both faces (NetBox's default). */
  fullDepth: z.boolean().default(true),
});
export type PlaceDeviceInput = z.input<typeof placeDeviceInput>;

export const createPowerPanelInput = z.strictObject({ name, locationId: uuid('a location') });
export type CreatePowerPanelInput = z.input<typeof createPowerPanelInput>;

export const createPowerFeedInput = z.strictObject({
  name,
  panelId: uuid('a power panel'),
  voltage: positiveInt(1000),
  amperage: positiveInt(10_000),
  phase: z.enum(powerPhases).default('single'),
  /** Percent of the electrical capacity that may be allocated (NetBox: 80). */
  maxUtilization: positiveInt(100).default(80),
});
export type CreatePowerFeedInput = z.input<typeof createPowerFeedInput>;

export const createPduInput = z.strictObject({
  name,
  rackId: uuid('a rack'),
  feedId: uuid('a power feed'),
  capacityW: positiveInt(1_000_000),
});
export type CreatePduInput = z.input<typeof createPduInput>;

export const allocatePowerInput = z.strictObject({
  pduId: uuid('a PDU'),
  deviceId: uuid('a CI'),
  watts: positiveInt(1_000_000),
});
export type AllocatePowerInput = z.input<typeof allocatePowerInput>;

const thresholds = {
  warningAbove: threshold,
  criticalAbove: threshold,
  warningBelow: threshold,
  criticalBelow: threshold,
};

export type Thresholds = { [K in keyof typeof thresholds]: number | null };

/** Thresholds must nest: critical-below ≤ warning-below < warning-above ≤ critical-above. */
export function nestingIssues(t: Thresholds): { path: string; message: string }[] {
  const order = ['criticalBelow', 'warningBelow', 'warningAbove', 'criticalAbove'] as const;
  const set = order.filter((k) => t[k] !== null);
  const issues: { path: string; message: string }[] = [];
  for (let i = 1; i < set.length; i++) {
    const [low, high] = [set[i - 1]!, set[i]!];
    if (t[low]! > t[high]!) issues.push({ path: high, message: `must not be below ${low} (${t[low]})` });
  }
  return issues;
}

export const createSensorInput = z
  /** A threshold left out takes the kind's default; `null` turns it off. */
  .strictObject({ name, locationId: uuid('a room or rack'), kind: z.enum(sensorKinds), ...thresholds });
export type CreateSensorInput = z.input<typeof createSensorInput>;

export const updateSensorInput = z
  /** A threshold left out stays as it is; `null` turns it off. */
  .strictObject({ version: z.number().int().positive(), ...thresholds });
export type UpdateSensorInput = z.input<typeof updateSensorInput>;

export const readingInput = z.strictObject({
  value: z.number().finite('must be a number'),
  at: z.coerce.date().optional(),
});
export type ReadingInput = z.input<typeof readingInput>;

/** ASHRAE's recommended envelope for data rooms: what a sensor gets when no threshold is given. */
export const defaultThresholds: Record<SensorKind, Record<keyof typeof thresholds, number>> = {
  temperature: { warningAbove: 27, criticalAbove: 32, warningBelow: 18, criticalBelow: 10 },
  humidity: { warningAbove: 60, criticalAbove: 80, warningBelow: 20, criticalBelow: 8 },
};

declare module '@opsgraph/core' {
  interface DomainEventMap {
    'facilities.location_created': { location: Location };
    'facilities.rack_created': { rack: Rack };
    'facilities.rack_updated': { rack: Rack };
    'facilities.device_placed': { placement: Placement };
    'facilities.device_unplaced': { placement: Placement };
    'facilities.power_panel_created': { panel: PowerPanel };
    'facilities.power_feed_created': { feed: PowerFeed };
    'facilities.pdu_created': { pdu: Pdu };
    'facilities.power_allocated': { draw: PowerDraw; pduId: string; rackId: string };
    'facilities.power_released': { draw: PowerDraw; pduId: string; rackId: string };
    'facilities.sensor_created': { sensor: Sensor };
    'facilities.sensor_updated': { sensor: Sensor };
    'facilities.sensor_state_changed': { sensor: Sensor; from: SensorState; to: SensorState };
  }
}
