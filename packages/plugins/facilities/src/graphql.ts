import { connectionOf, forwardPage, mutationErrors, type OpsGraphBuilder } from '@opsgraph/server';
import { facilitiesPermissions } from './common.js';
import { renderElevationSvg } from './elevation.js';
import {
  type ElevationOccupant,
  type ElevationUnit,
  type Location,
  locationKinds,
  type Pdu,
  type Placement,
  type PowerDraw,
  type PowerFeed,
  type PowerPanel,
  powerPhases,
  type Rack,
  type RackElevation,
  type RackPowerBudget,
  type RoomPowerBudget,
  rackFaces,
  type Sensor,
  sensorKinds,
  sensorStates,
} from './model.js';

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((value) => [value.toUpperCase(), { value }])) as {
    [K in T as Uppercase<K>]: { value: K };
  };

/** GraphQL sends null for an omitted optional input; the SDK wants it left out. */
const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v != null)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };

/** A batch's missing entries as errors (a rack deleted between loading the list and its fields). */
const loaded = async <T>(batch: Promise<(T | null)[]>): Promise<(T | Error)[]> =>
  (await batch).map((v) => v ?? new Error('rack not found'));

const read = { permission: facilitiesPermissions.read } as const;
const write = { permission: facilitiesPermissions.write } as const;

/** A connection's own types, named after its node and guarded like it. */
const pageTypes = (node: string) =>
  [
    { name: `Facilities${node}Connection`, authScopes: read },
    { name: `Facilities${node}Edge`, authScopes: read },
  ] as const;

// Types and root fields carry the plugin's prefix (`Facilities…`, `facilities…`).
export function facilitiesGraphql(builder: OpsGraphBuilder): void {
  const Kind = builder.enumType('FacilitiesLocationKind', { values: upper(locationKinds) });
  const Face = builder.enumType('FacilitiesRackFace', { values: upper(rackFaces) });
  const Phase = builder.enumType('FacilitiesPowerPhase', { values: upper(powerPhases) });
  const SensorKind = builder.enumType('FacilitiesSensorKind', { values: upper(sensorKinds) });
  const SensorState = builder.enumType('FacilitiesSensorState', { values: upper(sensorStates) });

  const LocationRef = builder.objectRef<Location>('FacilitiesLocation');
  builder.objectType(LocationRef, {
    description: 'A region, site, building or room: a CI, contained in its parent.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('ciId', { description: 'The CI id.' }),
      name: t.exposeString('name'),
      kind: t.field({ type: Kind, resolve: (l) => l.kind }),
      parentId: t.exposeID('parentId', { nullable: true }),
      address: t.exposeString('address', { nullable: true }),
      children: t.loadableList({
        type: LocationRef,
        description: 'By name; a page of locations loads their children in one query.',
        load: (ids: string[], { og, actor }) => og.plugins.facilities.locations.childrenOf(ids, { actor }),
        resolve: (l) => l.ciId,
      }),
    }),
  });

  const PlacementRef = builder.objectRef<Placement>('FacilitiesPlacement').implement({
    description: 'A device mounted in a rack: from U `position` up `height` U.',
    authScopes: read,
    fields: (t) => ({
      deviceId: t.exposeID('deviceId'),
      deviceName: t.exposeString('deviceName'),
      deviceClass: t.exposeString('deviceClass'),
      rackId: t.exposeID('rackId'),
      position: t.exposeInt('position'),
      height: t.exposeInt('height'),
      face: t.field({ type: Face, resolve: (p) => p.face }),
      fullDepth: t.exposeBoolean('fullDepth'),
    }),
  });

  const Occupant = builder.objectRef<ElevationOccupant>('FacilitiesElevationOccupant').implement({
    authScopes: read,
    fields: (t) => ({
      deviceId: t.exposeID('deviceId'),
      name: t.exposeString('name'),
      position: t.exposeInt('position'),
      height: t.exposeInt('height'),
    }),
  });
  const Unit = builder.objectRef<ElevationUnit>('FacilitiesElevationUnit').implement({
    authScopes: read,
    fields: (t) => ({
      u: t.exposeInt('u'),
      front: t.field({ type: Occupant, nullable: true, resolve: (u) => u.front }),
      rear: t.field({ type: Occupant, nullable: true, resolve: (u) => u.rear }),
    }),
  });
  const ElevationRef = builder.objectRef<RackElevation>('FacilitiesElevation').implement({
    description: 'A rack U by U, top down, with what occupies each U on each face.',
    authScopes: read,
    fields: (t) => ({
      rackId: t.exposeID('rackId'),
      rackName: t.exposeString('rackName'),
      uHeight: t.exposeInt('uHeight'),
      units: t.field({ type: [Unit], resolve: (e) => [...e.units] }),
      placements: t.field({ type: [PlacementRef], resolve: (e) => [...e.placements] }),
    }),
  });

  const PduRef = builder.objectRef<Pdu>('FacilitiesPdu').implement({
    description: 'A power distribution unit in a rack, fed by a power feed.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('ciId'),
      name: t.exposeString('name'),
      rackId: t.exposeID('rackId'),
      feedId: t.exposeID('feedId'),
      capacityW: t.exposeInt('capacityW'),
      allocatedW: t.exposeInt('allocatedW'),
      version: t.exposeInt('version'),
      draws: t.loadableList({
        type: DrawRef,
        description: 'What devices draw from it; a list of PDUs loads them in one query.',
        load: (ids: string[], { og, actor }) => og.plugins.facilities.power.drawsOf(ids, { actor }),
        resolve: (p) => p.ciId,
      }),
    }),
  });
  const DrawRef = builder.objectRef<PowerDraw>('FacilitiesPowerDraw').implement({
    authScopes: read,
    fields: (t) => ({
      pduId: t.exposeID('pduId'),
      deviceId: t.exposeID('deviceId'),
      deviceName: t.exposeString('deviceName'),
      watts: t.exposeInt('watts'),
    }),
  });
  const RackBudgetRef = builder.objectRef<RackPowerBudget>('FacilitiesRackPowerBudget').implement({
    authScopes: read,
    fields: (t) => ({
      rackId: t.exposeID('rackId'),
      rackName: t.exposeString('rackName'),
      capacityW: t.exposeInt('capacityW'),
      allocatedW: t.exposeInt('allocatedW'),
      headroomW: t.exposeInt('headroomW'),
      pdus: t.field({ type: [PduRef], resolve: (b) => [...b.pdus] }),
    }),
  });
  const RoomBudgetRef = builder.objectRef<RoomPowerBudget>('FacilitiesRoomPowerBudget').implement({
    authScopes: read,
    fields: (t) => ({
      roomId: t.exposeID('roomId'),
      roomName: t.exposeString('roomName'),
      capacityW: t.exposeInt('capacityW'),
      allocatedW: t.exposeInt('allocatedW'),
      headroomW: t.exposeInt('headroomW'),
      racks: t.field({ type: [RackBudgetRef], resolve: (b) => [...b.racks] }),
    }),
  });

  const RackRef = builder.objectRef<Rack>('FacilitiesRack').implement({
    description: 'A rack in a room: a CI that contains the devices mounted in it.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('ciId'),
      name: t.exposeString('name'),
      roomId: t.exposeID('roomId'),
      uHeight: t.exposeInt('uHeight'),
      version: t.exposeInt('version'),
      // A list of racks loads each of these in one batch, not one query per rack.
      placements: t.loadableList({
        type: PlacementRef,
        load: (ids: string[], { og, actor }) => og.plugins.facilities.racks.placementsOf(ids, { actor }),
        resolve: (r) => r.ciId,
      }),
      elevation: t.loadable({
        type: ElevationRef,
        load: (ids: string[], { og, actor }) =>
          loaded(og.plugins.facilities.racks.elevationsOf(ids, { actor })),
        resolve: (r) => r.ciId,
      }),
      elevationSvg: t.loadable({
        type: 'String',
        description: 'The elevation as an SVG document: front and rear, U by U.',
        load: async (ids: string[], { og, actor }) =>
          (await loaded(og.plugins.facilities.racks.elevationsOf(ids, { actor }))).map((e) =>
            e instanceof Error ? e : renderElevationSvg(e),
          ),
        resolve: (r) => r.ciId,
      }),
      pdus: t.loadableList({
        type: PduRef,
        description: 'Its PDUs by name; a page of racks loads them in one query.',
        load: (ids: string[], { og, actor }) => og.plugins.facilities.power.pdusOf(ids, { actor }),
        resolve: (r) => r.ciId,
      }),
      powerBudget: t.loadable({
        type: RackBudgetRef,
        load: (ids: string[], { og, actor }) =>
          loaded(og.plugins.facilities.power.rackBudgetsOf(ids, { actor })),
        resolve: (r) => r.ciId,
      }),
    }),
  });

  const PanelRef = builder.objectRef<PowerPanel>('FacilitiesPowerPanel').implement({
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('ciId'),
      name: t.exposeString('name'),
      locationId: t.exposeID('locationId'),
    }),
  });
  const FeedRef = builder.objectRef<PowerFeed>('FacilitiesPowerFeed').implement({
    description: 'A circuit from a panel: capacity = volts × amps (× √3 three-phase) × max utilization.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('ciId'),
      name: t.exposeString('name'),
      panelId: t.exposeID('panelId'),
      voltage: t.exposeInt('voltage'),
      amperage: t.exposeInt('amperage'),
      phase: t.field({ type: Phase, resolve: (f) => f.phase }),
      maxUtilization: t.exposeInt('maxUtilization'),
      capacityW: t.exposeInt('capacityW'),
      capacityKw: t.float({ resolve: (f) => f.capacityW / 1000 }),
      allocatedW: t.exposeInt('allocatedW'),
      headroomW: t.int({ resolve: (f) => f.capacityW - f.allocatedW }),
      version: t.exposeInt('version'),
    }),
  });

  const SensorRef = builder.objectRef<Sensor>('FacilitiesSensor').implement({
    description: 'A temperature (°C) or humidity (%) sensor in a room or rack.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('ciId'),
      name: t.exposeString('name'),
      locationId: t.exposeID('locationId'),
      kind: t.field({ type: SensorKind, resolve: (s) => s.kind }),
      state: t.field({ type: SensorState, resolve: (s) => s.state }),
      warningAbove: t.exposeFloat('warningAbove', { nullable: true }),
      criticalAbove: t.exposeFloat('criticalAbove', { nullable: true }),
      warningBelow: t.exposeFloat('warningBelow', { nullable: true }),
      criticalBelow: t.exposeFloat('criticalBelow', { nullable: true }),
      lastValue: t.exposeFloat('lastValue', { nullable: true }),
      lastReadAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.lastReadAt }),
      version: t.exposeInt('version'),
    }),
  });

  builder.queryFields((t) => ({
    facilitiesLocations: t.connection(
      {
        type: LocationRef,
        description:
          'Locations by name, a page at a time; of one kind, or the children of one location (`roots`: those without a parent).',
        authScopes: read,
        args: { kind: t.arg({ type: Kind }), parentId: t.arg.id(), roots: t.arg.boolean() },
        resolve: async (_root, { kind, parentId, roots, ...args }, { og, actor }) =>
          connectionOf(
            await og.plugins.facilities.locations.page(
              {
                ...(kind ? { kind } : {}),
                ...(roots ? { parentId: null } : parentId ? { parentId: String(parentId) } : {}),
              },
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      ...pageTypes('Location'),
    ),
    facilitiesLocation: t.field({
      type: LocationRef,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.locations.get(String(args.id), { actor }),
    }),
    facilitiesRacks: t.connection(
      {
        type: RackRef,
        description: 'Racks by name, a page at a time; of one room when `roomId` is given.',
        authScopes: read,
        args: { roomId: t.arg.id() },
        resolve: async (_root, { roomId, ...args }, { og, actor }) =>
          connectionOf(
            await og.plugins.facilities.racks.page(
              roomId ? { roomId: String(roomId) } : {},
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      ...pageTypes('Rack'),
    ),
    facilitiesRack: t.field({
      type: RackRef,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, args, { og, actor }) => og.plugins.facilities.racks.get(String(args.id), { actor }),
    }),
    facilitiesElevation: t.field({
      type: ElevationRef,
      authScopes: read,
      args: { rackId: t.arg.id({ required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.racks.elevation(String(args.rackId), { actor }),
    }),
    facilitiesRackPowerBudget: t.field({
      type: RackBudgetRef,
      authScopes: read,
      args: { rackId: t.arg.id({ required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.power.rackBudget(String(args.rackId), { actor }),
    }),
    facilitiesRoomPowerBudget: t.field({
      type: RoomBudgetRef,
      authScopes: read,
      args: { roomId: t.arg.id({ required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.power.roomBudget(String(args.roomId), { actor }),
    }),
    facilitiesPowerPanels: t.connection(
      {
        type: PanelRef,
        description: 'Power panels by name, a page at a time; of one location when `locationId` is given.',
        authScopes: read,
        args: { locationId: t.arg.id() },
        resolve: async (_root, { locationId, ...args }, { og, actor }) =>
          connectionOf(
            await og.plugins.facilities.power.panelsPage(
              locationId ? { locationId: String(locationId) } : {},
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      ...pageTypes('PowerPanel'),
    ),
    facilitiesPowerFeeds: t.connection(
      {
        type: FeedRef,
        description: 'Power feeds by name, a page at a time; of one panel when `panelId` is given.',
        authScopes: read,
        args: { panelId: t.arg.id() },
        resolve: async (_root, { panelId, ...args }, { og, actor }) =>
          connectionOf(
            await og.plugins.facilities.power.feedsPage(
              panelId ? { panelId: String(panelId) } : {},
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      ...pageTypes('PowerFeed'),
    ),
    facilitiesPdus: t.connection(
      {
        type: PduRef,
        description: 'PDUs by name, a page at a time; of one rack and/or one feed when given.',
        authScopes: read,
        args: { rackId: t.arg.id(), feedId: t.arg.id() },
        resolve: async (_root, { rackId, feedId, ...args }, { og, actor }) =>
          connectionOf(
            await og.plugins.facilities.power.pdusPage(
              {
                ...(rackId ? { rackId: String(rackId) } : {}),
                ...(feedId ? { feedId: String(feedId) } : {}),
              },
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      ...pageTypes('Pdu'),
    ),
    facilitiesSensors: t.connection(
      {
        type: SensorRef,
        description: 'Sensors by name, a page at a time; of one room or rack when `locationId` is given.',
        authScopes: read,
        args: { locationId: t.arg.id() },
        resolve: async (_root, { locationId, ...args }, { og, actor }) =>
          connectionOf(
            await og.plugins.facilities.environment.sensorsPage(
              locationId ? { locationId: String(locationId) } : {},
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      ...pageTypes('Sensor'),
    ),
  }));

  const LocationInput = builder.inputType('FacilitiesCreateLocationInput', {
    fields: (t) => ({
      kind: t.field({ type: Kind, required: true }),
      name: t.string({ required: true }),
      parentId: t.id(),
      address: t.string(),
    }),
  });
  const RackInput = builder.inputType('FacilitiesCreateRackInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      roomId: t.id({ required: true }),
      uHeight: t.int({ description: 'Default 42.' }),
    }),
  });
  const PlaceInput = builder.inputType('FacilitiesPlaceDeviceInput', {
    fields: (t) => ({
      rackId: t.id({ required: true }),
      deviceId: t.id({ required: true }),
      position: t.int({ required: true, description: 'The lowest U the device occupies.' }),
      height: t.int({ description: 'In U; default 1.' }),
      face: t.field({ type: Face, description: 'Default FRONT.' }),
      fullDepth: t.boolean({ description: 'Takes both faces; default true.' }),
    }),
  });
  const PanelInput = builder.inputType('FacilitiesCreatePowerPanelInput', {
    fields: (t) => ({ name: t.string({ required: true }), locationId: t.id({ required: true }) }),
  });
  const FeedInput = builder.inputType('FacilitiesCreatePowerFeedInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      panelId: t.id({ required: true }),
      voltage: t.int({ required: true }),
      amperage: t.int({ required: true }),
      phase: t.field({ type: Phase, description: 'Default SINGLE.' }),
      maxUtilization: t.int({ description: 'Percent; default 80.' }),
    }),
  });
  const PduInput = builder.inputType('FacilitiesCreatePduInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      rackId: t.id({ required: true }),
      feedId: t.id({ required: true }),
      capacityW: t.int({ required: true }),
    }),
  });
  const AllocateInput = builder.inputType('FacilitiesAllocatePowerInput', {
    fields: (t) => ({
      pduId: t.id({ required: true }),
      deviceId: t.id({ required: true }),
      watts: t.int({ required: true }),
    }),
  });
  const SensorInput = builder.inputType('FacilitiesCreateSensorInput', {
    description: 'Thresholds left out take the kind’s defaults; null turns one off.',
    fields: (t) => ({
      name: t.string({ required: true }),
      locationId: t.id({ required: true, description: 'A room or a rack.' }),
      kind: t.field({ type: SensorKind, required: true }),
      warningAbove: t.float(),
      criticalAbove: t.float(),
      warningBelow: t.float(),
      criticalBelow: t.float(),
    }),
  });
  const UpdateSensorInput = builder.inputType('FacilitiesUpdateSensorInput', {
    description: 'Thresholds left out stay as they are; null turns one off.',
    fields: (t) => ({
      version: t.int({ required: true }),
      warningAbove: t.float(),
      criticalAbove: t.float(),
      warningBelow: t.float(),
      criticalBelow: t.float(),
    }),
  });
  const ReadingInput = builder.inputType('FacilitiesReadingInput', {
    fields: (t) => ({ value: t.float({ required: true }), at: t.field({ type: 'DateTime' }) }),
  });

  // GraphQL IDs arrive as strings; the SDK validates them.
  const ids = <T extends object>(input: T) =>
    Object.fromEntries(
      Object.entries(defined(input)).map(([k, v]) => [k, k.endsWith('Id') ? String(v) : v]),
    ) as never;

  builder.mutationFields((t) => ({
    facilitiesCreateLocation: t.field({
      type: LocationRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: LocationInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.facilities.locations.create(ids(input), { actor }),
    }),
    facilitiesCreateRack: t.field({
      type: RackRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: RackInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) => og.plugins.facilities.racks.create(ids(input), { actor }),
    }),
    facilitiesUpdateRack: t.field({
      type: RackRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int({ required: true }),
        uHeight: t.arg.int({ required: true }),
      },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.racks.update(
          String(args.id),
          { version: args.version, uHeight: args.uHeight },
          { actor },
        ),
    }),
    facilitiesPlaceDevice: t.field({
      type: PlacementRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: PlaceInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) => og.plugins.facilities.racks.place(ids(input), { actor }),
    }),
    facilitiesUnplaceDevice: t.field({
      type: PlacementRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { deviceId: t.arg.id({ required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.racks.unplace(String(args.deviceId), { actor }),
    }),
    facilitiesCreatePowerPanel: t.field({
      type: PanelRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: PanelInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.facilities.power.createPanel(ids(input), { actor }),
    }),
    facilitiesCreatePowerFeed: t.field({
      type: FeedRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: FeedInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.facilities.power.createFeed(ids(input), { actor }),
    }),
    facilitiesCreatePdu: t.field({
      type: PduRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: PduInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.facilities.power.createPdu(ids(input), { actor }),
    }),
    facilitiesAllocatePower: t.field({
      type: DrawRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: AllocateInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.facilities.power.allocate(ids(input), { actor }),
    }),
    facilitiesReleasePower: t.field({
      type: DrawRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { pduId: t.arg.id({ required: true }), deviceId: t.arg.id({ required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.power.release(
          { pduId: String(args.pduId), deviceId: String(args.deviceId) },
          { actor },
        ),
    }),
    facilitiesCreateSensor: t.field({
      type: SensorRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: SensorInput, required: true }) },
      // Thresholds keep an explicit null (off); other fields drop it.
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.facilities.environment.createSensor(
          { ...(ids(input) as object), ...thresholdsOf(input) } as never,
          { actor },
        ),
    }),
    facilitiesUpdateSensor: t.field({
      type: SensorRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateSensorInput, required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.environment.updateSensor(
          String(args.id),
          { version: args.input.version, ...thresholdsOf(args.input) },
          { actor },
        ),
    }),
    facilitiesRecordReading: t.field({
      type: SensorRef,
      errors: { types: mutationErrors },
      authScopes: write,
      args: { sensorId: t.arg.id({ required: true }), input: t.arg({ type: ReadingInput, required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.plugins.facilities.environment.record(String(args.sensorId), defined(args.input), { actor }),
    }),
  }));
}

/** The thresholds given, null included (off), omitted ones left out. */
function thresholdsOf(input: Record<string, unknown>) {
  return Object.fromEntries(
    (['warningAbove', 'criticalAbove', 'warningBelow', 'criticalBelow'] as const)
      .filter((k) => input[k] !== undefined)
      .map((k) => [k, input[k] as number | null]),
  );
}
