// @opsgraph/plugin-facilities: DCIM as CMDB CIs, so impact analysis and maintenance follow the building.
import '@opsgraph/server'; // brings the `graphql` slot onto PluginDefinition
import { type CiClassDefinition, definePlugin, pluginActor } from '@opsgraph/core';
import { classes, facilitiesPermissions, POWERED_BY } from './common.js';
import { EnvironmentService } from './environment.js';
import { facilitiesGraphql } from './graphql.js';
import { LocationsService } from './locations.js';
import { migrations } from './migrations.js';
import { PowerService } from './power.js';
import { RacksService } from './racks.js';

export { classes as facilitiesClasses, facilitiesPermissions, POWERED_BY } from './common.js';
export { renderElevationSvg } from './elevation.js';
export { EnvironmentService, sensorDedupKey } from './environment.js';
export { type LocationFilter, LocationsService } from './locations.js';
export type {
  AllocatePowerInput,
  CreateLocationInput,
  CreatePduInput,
  CreatePowerFeedInput,
  CreatePowerPanelInput,
  CreateRackInput,
  CreateSensorInput,
  ElevationOccupant,
  ElevationUnit,
  FacilitiesTables,
  Location,
  LocationKind,
  Pdu,
  PlaceDeviceInput,
  Placement,
  PowerBudget,
  PowerDraw,
  PowerFeed,
  PowerPanel,
  PowerPhase,
  Rack,
  RackElevation,
  RackFace,
  RackPowerBudget,
  ReadingInput,
  RoomPowerBudget,
  Sensor,
  SensorKind,
  SensorState,
  UpdateRackInput,
  UpdateSensorInput,
} from './model.js';
export {
  defaultThresholds,
  locationKinds,
  MAX_RACK_UNITS,
  powerPhases,
  rackFaces,
  sensorKinds,
  sensorStates,
} from './model.js';
export { feedCapacityW, PowerService } from './power.js';
export { RacksService } from './racks.js';

export interface FacilitiesServices {
  locations: LocationsService;
  racks: RacksService;
  power: PowerService;
  environment: EnvironmentService;
}

declare module '@opsgraph/core' {
  interface OpsGraphPlugins {
    facilities: FacilitiesServices;
  }
}

const hardware = (name: string, label: string, description: string): CiClassDefinition => ({
  name,
  label,
  parent: 'hardware',
  description,
});

const ciClasses: CiClassDefinition[] = [
  {
    name: classes.location,
    label: 'Facilities location',
    description: 'A place that contains others: a region, site, building or room.',
    identifiers: [],
  },
  { name: classes.region, label: 'Region', parent: classes.location },
  {
    name: classes.site,
    label: 'Site',
    parent: classes.location,
    attributes: [{ name: 'time_zone', type: 'string', label: 'Time zone' }],
  },
  { name: classes.building, label: 'Building', parent: classes.location },
  { name: classes.room, label: 'Room', parent: classes.location },
  hardware(classes.rack, 'Rack', 'A rack of U positions in a room; contains the devices mounted in it.'),
  hardware(classes.powerPanel, 'Power panel', 'An electrical panel that supplies power feeds.'),
  hardware(classes.powerFeed, 'Power feed', 'A circuit from a power panel to the PDUs it feeds.'),
  hardware(classes.pdu, 'PDU', 'A power distribution unit in a rack, fed by a power feed.'),
  hardware(classes.sensor, 'Environmental sensor', 'A temperature or humidity sensor in a room or rack.'),
  {
    name: classes.powerGroup,
    label: 'Power group',
    parent: 'cluster',
    description:
      'The redundant (A/B) power of a rack or device: its PDUs are members; quorum 1 keeps it up while one feed is.',
    identifiers: [],
  },
];

/** DCIM: regions, sites, buildings, rooms, racks and elevations, power and environment. */
export const facilitiesPlugin = () =>
  definePlugin({
    name: 'facilities',
    version: '0.1.0',
    apiVersion: '^1.1.0',
    migrations,
    ciClasses,
    relationshipTypes: [
      {
        name: POWERED_BY,
        label: 'is powered by',
        inverseLabel: 'powers',
        // `device powered_by pdu`: the PDU failing cuts the device's power.
        propagation: 'to_source',
        acyclic: true,
      },
    ],
    roles: [
      {
        name: 'facilities_manager',
        description: 'Runs the data centres: locations, racks, power and sensors (their CIs included).',
        permissions: [facilitiesPermissions.read, facilitiesPermissions.write, 'cmdb:read', 'cmdb:write'],
      },
      {
        name: 'facilities_viewer',
        description: 'Reads locations, racks, elevations, power budgets and sensors.',
        permissions: [facilitiesPermissions.read, 'cmdb:read'],
      },
    ],
    services: (kernel): FacilitiesServices => ({
      locations: new LocationsService(kernel),
      racks: new RacksService(kernel),
      power: new PowerService(kernel),
      environment: new EnvironmentService(kernel),
    }),
    on: {
      // A retired device leaves its rack: its U are free again and it draws no more power.
      'ci.retired': async (event, kernel) => {
        const { racks } = kernel.plugins.facilities;
        if (await racks.placementOf(event.payload.ci.id))
          await racks.unplace(event.payload.ci.id, { actor: pluginActor('facilities') });
      },
    },
    graphql: facilitiesGraphql,
  });
