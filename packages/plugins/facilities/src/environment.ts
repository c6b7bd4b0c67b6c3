import {
  ConflictError,
  type EventSeverity,
  type Kernel,
  NotFoundError,
  parseInput,
  pluginActor,
  type ReadOptions,
  ValidationError,
  type WriteOptions,
  type WriteScope,
} from '@opsgraph/core';
import {
  assertRead,
  assertWrite,
  classes,
  createCi,
  type Db,
  emptyPage,
  isUuid,
  type Page,
  type PageRequest,
  PLUGIN,
  pageByName,
  tables,
} from './common.js';
import { findLocation } from './locations.js';
import {
  type CreateSensorInput,
  createSensorInput,
  defaultThresholds,
  nestingIssues,
  type ReadingInput,
  readingInput,
  type Sensor,
  type SensorState,
  type Thresholds,
  type UpdateSensorInput,
  updateSensorInput,
} from './model.js';
import { findRack } from './racks.js';

const selectSensors = (db: Db) =>
  db
    .selectFrom('facilitiesSensors as s')
    .innerJoin('cis as c', 'c.id', 's.ciId')
    .selectAll('s')
    .select('c.name');

const UNITS = { temperature: '°C', humidity: '%' } as const;
const THRESHOLD_KEYS = ['warningAbove', 'criticalAbove', 'warningBelow', 'criticalBelow'] as const;

/** The state a value puts a sensor in, and the threshold it crossed. */
export function evaluate(t: Thresholds, value: number): { state: SensorState; crossed?: string } {
  if (t.criticalAbove !== null && value > t.criticalAbove)
    return { state: 'critical', crossed: `above the critical threshold ${t.criticalAbove}` };
  if (t.criticalBelow !== null && value < t.criticalBelow)
    return { state: 'critical', crossed: `below the critical threshold ${t.criticalBelow}` };
  if (t.warningAbove !== null && value > t.warningAbove)
    return { state: 'warning', crossed: `above the warning threshold ${t.warningAbove}` };
  if (t.warningBelow !== null && value < t.warningBelow)
    return { state: 'warning', crossed: `below the warning threshold ${t.warningBelow}` };
  return { state: 'ok' };
}

/** The alert of one sensor: one per sensor, whichever threshold it crosses. */
export const sensorDedupKey = (sensorId: string) => `facilities:sensor:${sensorId}`;

/**
 * Temperature and humidity sensors in rooms and racks. A reading past a threshold raises an event
 * through event management (warning or critical, on the room or rack's CI, one alert per sensor); a
 * reading back inside clears it.
 */
export interface SensorFilter {
  /** Sensors in this room or rack. */
  readonly locationId?: string;
}

export class EnvironmentService {
  constructor(private readonly kernel: Kernel) {}

  /** A sensor (a CI) in a room or a rack, which contains it. Thresholds left out take the kind's defaults. */
  async createSensor(input: CreateSensorInput, { actor }: WriteOptions): Promise<Sensor> {
    assertWrite(actor);
    const data = parseInput(createSensorInput, input);
    const t = Object.fromEntries(
      THRESHOLD_KEYS.map((k) => [k, data[k] === undefined ? defaultThresholds[data.kind][k] : data[k]]),
    ) as Thresholds;
    assertNested(t);
    return this.kernel.write(actor, async (scope) => {
      const db = tables(scope.db);
      const room = await findLocation(db, data.locationId);
      const rack = room ? undefined : await findRack(db, data.locationId);
      if (!room && !rack) throw new NotFoundError('room or rack', data.locationId, 'locationId');
      if (room && room.kind !== 'room')
        throw ValidationError.field(
          'locationId',
          `a sensor goes in a room or a rack, and ${room.name} is a ${room.kind}`,
        );
      const ci = await createCi(scope, classes.sensor, data.name, { parentId: data.locationId });
      const row = await db
        .insertInto('facilitiesSensors')
        .values({
          ciId: ci.id,
          locationId: data.locationId,
          kind: data.kind,
          ...t,
          lastValue: null,
          lastReadAt: null,
          createdAt: scope.now,
          updatedAt: scope.now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const sensor: Sensor = { ...row, name: ci.name };
      scope.emit('facilities.sensor_created', { type: 'ci', id: ci.id }, { sensor });
      return sensor;
    });
  }

  /**
   * Changes thresholds (left out: unchanged; null: off) if the sensor is still at `version`. The last
   * reading is judged again: new thresholds may raise or clear its alert.
   */
  async updateSensor(id: string, input: UpdateSensorInput, { actor }: WriteOptions): Promise<Sensor> {
    assertWrite(actor);
    const data = parseInput(updateSensorInput, input);
    return this.kernel.write(actor, async (scope) => {
      const current = await this.#lock(scope, id, 'id');
      if (current.version !== data.version)
        throw ConflictError.staleVersion('sensor', current.name, data.version, current.version);
      const t = Object.fromEntries(
        THRESHOLD_KEYS.map((k) => [k, data[k] === undefined ? current[k] : data[k]]),
      ) as Thresholds;
      assertNested(t);
      const updated = await this.#store(scope, current, t, current.lastValue, current.lastReadAt);
      scope.emit('facilities.sensor_updated', { type: 'ci', id }, { sensor: updated });
      return updated;
    });
  }

  /**
   * Records a reading. Past a threshold, an event goes to event management (severity warning or
   * critical; repeated readings fold into the same alert); the first reading back inside sends a clear.
   */
  async record(sensorId: string, input: ReadingInput, { actor }: WriteOptions): Promise<Sensor> {
    assertWrite(actor);
    const data = parseInput(readingInput, input);
    return this.kernel.write(actor, async (scope) => {
      const current = await this.#lock(scope, sensorId, 'sensorId');
      return this.#store(scope, current, current, data.value, data.at ?? scope.now);
    });
  }

  async get(id: string, options: ReadOptions = {}): Promise<Sensor | null> {
    assertRead(options);
    if (!isUuid(id)) return null;
    return (await selectSensors(tables(this.kernel.db)).where('s.ciId', '=', id).executeTakeFirst()) ?? null;
  }

  /** Sensors by name; of one room or rack when asked. */
  async sensors(filter: SensorFilter = {}, options: ReadOptions = {}): Promise<Sensor[]> {
    assertRead(options);
    return (await this.#query(filter)?.orderBy('c.name').orderBy('s.ciId').execute()) ?? [];
  }

  /** A page of `sensors`: `first` sensors after the cursor `after`, in one query. */
  async sensorsPage(
    filter: SensorFilter,
    page: PageRequest,
    options: ReadOptions = {},
  ): Promise<Page<Sensor>> {
    assertRead(options);
    const query = this.#query(filter);
    return query ? pageByName(tables(this.kernel.db), query, 's.ciId', page, 'a sensor') : emptyPage();
  }

  /** The filtered query, unordered; undefined when no row can match (a location id that is no UUID). */
  #query(filter: SensorFilter) {
    const query = selectSensors(tables(this.kernel.db));
    if (filter.locationId === undefined) return query;
    return isUuid(filter.locationId) ? query.where('s.locationId', '=', filter.locationId) : undefined;
  }

  async #lock(scope: WriteScope, id: string, field: string): Promise<Sensor> {
    const db = tables(scope.db);
    const locked = isUuid(id)
      ? await db
          .selectFrom('facilitiesSensors')
          .select('ciId')
          .where('ciId', '=', id)
          .forUpdate()
          .executeTakeFirst()
      : undefined;
    if (!locked) throw new NotFoundError('sensor', id, field);
    return selectSensors(db).where('s.ciId', '=', id).executeTakeFirstOrThrow();
  }

  /** Saves thresholds and the last value, and tells event management when the state calls for it. */
  async #store(
    scope: WriteScope,
    current: Sensor,
    t: Thresholds,
    value: number | null,
    at: Date | null,
  ): Promise<Sensor> {
    const judged = value === null ? { state: 'ok' as const } : evaluate(t, value);
    const row = await tables(scope.db)
      .updateTable('facilitiesSensors')
      .set({
        warningAbove: t.warningAbove,
        criticalAbove: t.criticalAbove,
        warningBelow: t.warningBelow,
        criticalBelow: t.criticalBelow,
        lastValue: value,
        lastReadAt: at,
        state: judged.state,
        version: current.version + 1,
        updatedAt: scope.now,
      })
      .where('ciId', '=', current.ciId)
      .returningAll()
      .executeTakeFirstOrThrow();
    const sensor: Sensor = { ...row, name: current.name };
    if (judged.state !== 'ok' || current.state !== 'ok') {
      const location = await scope.kernel.services.cmdb.get(sensor.locationId);
      const where = location?.name ?? sensor.locationId;
      const unit = UNITS[sensor.kind];
      const severity: EventSeverity = judged.state === 'ok' ? 'clear' : judged.state;
      // Sent whenever the state is not ok (repeats fold into the alert) and once on the way back.
      await scope.kernel.services.events.ingest(
        {
          source: PLUGIN,
          node: where,
          resource: sensor.name,
          type: sensor.kind,
          severity,
          message:
            judged.state === 'ok'
              ? `${sensor.kind} ${value} ${unit} at ${where} is back within thresholds (sensor ${sensor.name})`
              : `${sensor.kind} ${value} ${unit} at ${where} is ${judged.crossed} ${unit} (sensor ${sensor.name})`,
          dedupKey: sensorDedupKey(sensor.ciId),
          labels: { sensor: sensor.name, kind: sensor.kind, state: judged.state },
          ciId: sensor.locationId,
          ...(at ? { occurredAt: at } : {}),
        },
        // The plugin raises it: who sends readings needs facilities:write, not event:write.
        { actor: pluginActor(PLUGIN) },
      );
    }
    if (judged.state !== current.state)
      scope.emit(
        'facilities.sensor_state_changed',
        { type: 'ci', id: sensor.ciId },
        {
          sensor,
          from: current.state,
          to: judged.state,
        },
      );
    return sensor;
  }
}

function assertNested(t: Thresholds): void {
  const issues = nestingIssues(t);
  if (issues.length > 0) throw new ValidationError(issues);
}
