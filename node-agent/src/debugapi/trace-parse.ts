// Parser of `ovs-appctl ofproto/trace` output (OVS 3.x text format). The output has one section per
// (re)circulation: "Flow: ..." then one entry per table visited
//   " 0. in_port=4, priority 190, cookie 0x4c4d0102d499c6c5"   (or "20. No match.")
//   "    set_field:0x1/0xf->reg0"                              (actions, indented)
//   "     -> output port is 3"                                  (notes of OVS)
// and "Final flow:", "Megaflow:", "Datapath actions:" lines.

export interface ParsedStep {
  table: number;
  /** match of the flow as OVS prints it ("" for a match-all flow or a table miss) */
  match: string;
  priority: number;
  cookie?: bigint;
  /** true for "No match." (table miss without a miss flow) */
  noMatch: boolean;
  actions: string[];
  notes: string[];
}

export interface ParsedSection {
  /** the "Flow:" line of the section */
  flow: string;
  /** header of a resumed section, e.g. "recirc(0x1) - resume conntrack with ct_state=new|trk" */
  resume?: string;
  steps: ParsedStep[];
  datapathActions: string;
}

export interface ParsedTrace {
  sections: ParsedSection[];
}

export class TraceParseError extends Error {}

const STEP_RE = /^\s{0,3}(\d{1,3})\. (.*)$/;
const FLOW_TAIL_RE = /^(.*?)(?:, )?priority (\d+)(?:, cookie (0x[0-9a-fA-F]+))?$/;

/** Parse a whole ofproto/trace output. Throws TraceParseError when it has no recognisable section. */
export function parseTrace(text: string): ParsedTrace {
  const sections: ParsedSection[] = [];
  let section: ParsedSection | undefined;
  let step: ParsedStep | undefined;
  let pendingResume: string | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (/^={5,}$/.test(line.trim())) {
      // "====\nrecirc(0x1) - resume conntrack with ct_state=new|trk\n===="
      const header = lines[i + 1]?.trim();
      if (header && !/^={5,}$/.test(header)) {
        pendingResume = header;
        i += 2;
      }
      continue;
    }
    if (line.startsWith('Flow: ')) {
      section = { flow: line.slice(6).trim(), steps: [], datapathActions: '', ...(pendingResume ? { resume: pendingResume } : {}) };
      pendingResume = undefined;
      sections.push(section);
      step = undefined;
      continue;
    }
    if (!section) continue;
    if (line.startsWith('Datapath actions: ')) {
      section.datapathActions = line.slice('Datapath actions: '.length).trim();
      step = undefined;
      continue;
    }
    if (line.startsWith('Final flow:') || line.startsWith('Megaflow:') || line.startsWith('bridge(') || /^-+$/.test(line)) {
      step = undefined;
      continue;
    }
    const m = STEP_RE.exec(line);
    if (m) {
      const table = Number(m[1]);
      const rest = (m[2] as string).trim();
      if (rest.startsWith('No match')) {
        step = { table, match: '', priority: -1, noMatch: true, actions: [], notes: [] };
      } else {
        const t = FLOW_TAIL_RE.exec(rest);
        if (!t) throw new TraceParseError(`cannot read the flow of table ${table} in the trace: "${rest}"`);
        step = {
          table,
          match: (t[1] as string).replace(/,$/, ''),
          priority: Number(t[2]),
          ...(t[3] ? { cookie: BigInt(t[3]) } : {}),
          noMatch: false,
          actions: [],
          notes: [],
        };
      }
      section.steps.push(step);
      continue;
    }
    if (!step) continue;
    const body = line.trim();
    if (body === '') continue;
    if (body.startsWith('->')) step.notes.push(body.slice(2).trim());
    else if (body === 'thaw' || body.startsWith('Resuming from table')) continue;
    else if (line.startsWith('    ')) step.actions.push(body);
  }
  if (sections.length === 0) throw new TraceParseError('the ofproto/trace output has no "Flow:" section; was the bridge name right?');
  return { sections };
}

/** Every step of the path in order, over all sections (a recirculation continues the path). */
export function pathSteps(t: ParsedTrace): ParsedStep[] {
  return t.sections.flatMap((s) => s.steps);
}

/** The port the packet is output to in the last section, if any ("-> output port is 3"). */
export function outputPort(t: ParsedTrace): number | undefined {
  const last = t.sections[t.sections.length - 1];
  for (const s of [...(last?.steps ?? [])].reverse()) {
    for (const n of s.notes) {
      const m = /^output port is (\d+)/.exec(n);
      if (m) return Number(m[1]);
    }
  }
  return undefined;
}
