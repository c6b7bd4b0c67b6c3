import type { ElevationOccupant, ElevationUnit, Placement, Rack, RackElevation, RackFace } from './model.js';

/** The rack U by U, top down: each U's front and rear occupant (a full-depth device fills both). */
export function elevationOf(rack: Rack, placements: readonly Placement[]): RackElevation {
  const at = (u: number, face: RackFace): ElevationOccupant | null => {
    const p = placements.find(
      (p) => u >= p.position && u < p.position + p.height && (p.fullDepth || p.face === face),
    );
    return p ? { deviceId: p.deviceId, name: p.deviceName, position: p.position, height: p.height } : null;
  };
  const units: ElevationUnit[] = [];
  for (let u = rack.uHeight; u >= 1; u--) units.push({ u, front: at(u, 'front'), rear: at(u, 'rear') });
  return { rackId: rack.ciId, rackName: rack.name, uHeight: rack.uHeight, units, placements };
}

const U_PX = 20;
const LABEL_PX = 44;
const FACE_PX = 220;
const GAP_PX = 24;
const TITLE_PX = 28;

// Names come from the CMDB: escaped, so a device named `<script>` stays text.
const xml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/**
 * An SVG of the front and rear faces side by side. Each U row is a `<g data-u="N">` labelled `UN`; each
 * device is one `<g class="device" data-device-id=… data-u-from data-u-to>` rectangle over its rows,
 * so a page (or a test) can find a device and the rows it fills.
 */
export function renderElevationSvg(elevation: RackElevation): string {
  const height = TITLE_PX + elevation.uHeight * U_PX + 2;
  const width = LABEL_PX + 2 * FACE_PX + GAP_PX + 2;
  const y = (u: number) => TITLE_PX + (elevation.uHeight - u) * U_PX;
  const faceX = (face: RackFace) => LABEL_PX + (face === 'front' ? 0 : FACE_PX + GAP_PX);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${xml(`Rack ${elevation.rackName} (${elevation.uHeight} U)`)}</title>`,
  ];
  for (const face of ['front', 'rear'] as const)
    out.push(
      `<text class="face" x="${faceX(face) + FACE_PX / 2}" y="18" text-anchor="middle" font-weight="bold">${face}</text>`,
    );
  for (const { u } of elevation.units) {
    out.push(
      `<g class="unit" data-u="${u}"><text x="${LABEL_PX - 6}" y="${y(u) + 14}" text-anchor="end">U${u}</text>` +
        (['front', 'rear'] as const)
          .map(
            (face) =>
              `<rect x="${faceX(face)}" y="${y(u)}" width="${FACE_PX}" height="${U_PX}" fill="#f4f4f4" stroke="#ccc"/>`,
          )
          .join('') +
        '</g>',
    );
  }
  for (const p of elevation.placements) {
    const top = p.position + p.height - 1;
    const faces: RackFace[] = p.fullDepth ? ['front', 'rear'] : [p.face];
    for (const face of faces) {
      const x = faceX(face);
      out.push(
        `<g class="device" data-device-id="${p.deviceId}" data-face="${face}" data-u-from="${p.position}" data-u-to="${top}">` +
          `<rect x="${x + 1}" y="${y(top) + 1}" width="${FACE_PX - 2}" height="${p.height * U_PX - 2}" rx="2" fill="#4a7ab5" stroke="#2c4f7c"/>` +
          `<text x="${x + FACE_PX / 2}" y="${y(top) + (p.height * U_PX) / 2 + 4}" text-anchor="middle" fill="#fff">${xml(p.deviceName)}</text>` +
          '</g>',
      );
    }
  }
  out.push('</svg>');
  return out.join('\n');
}
