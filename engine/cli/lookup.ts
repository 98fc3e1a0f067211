// Finding the prescription an operator means: by its id, or by the hospital's prescription number.
import { CommandError, UsageError, type Ctx } from './common';
import type { PrescriptionStatus } from '../../domain/prescription-status';

export interface RxRow {
  id: string; rx_no: string; status: PrescriptionStatus; workflow_id: string; hospital_code: string; hospital_name: string;
  issued_at: Date; expires_at: Date; used_at: Date | null; created_at: Date; updated_at: Date; content: { fulfilment?: { mode?: 'delivery' | 'pickup' } };
  version?: number; // present once prescriptions carry versions (amendments of rejected ones)
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const SELECT = `select p.*, h.code as hospital_code, h.name as hospital_name from prescription p join hospital h on h.id = p.hospital_id`;

/**
 * A uuid is the prescription id (a workflow id `rx-<uuid>` is accepted too); anything else is a
 * prescription number, which is unique per hospital: --hospital picks one when several hospitals use it.
 * Where a number has versions (amendments), the latest is meant.
 */
export async function findPrescription(ctx: Ctx, ref: string, hospital?: string): Promise<RxRow> {
  const id = ref.replace(/^rx-/, '');
  if (UUID.test(id)) {
    const [row] = await ctx.sql<RxRow>(`${SELECT} where p.id = ?`, [id.toLowerCase()]);
    if (!row) throw new CommandError(`no prescription with id ${id}`);
    if (hospital && row.hospital_code !== hospital) throw new CommandError(`prescription ${id} belongs to hospital ${row.hospital_code}, not ${hospital}`);
    return row;
  }
  if (!/^[\w.:/-]{1,64}$/.test(ref)) throw new UsageError(`"${ref}" is neither a prescription id (uuid) nor a prescription number`);
  const rows = await ctx.sql<RxRow>(`${SELECT} where p.rx_no = ?${hospital ? ' and h.code = ?' : ''} order by p.created_at desc`, hospital ? [ref, hospital] : [ref]);
  if (!rows.length) throw new CommandError(`no prescription numbered ${ref}${hospital ? ` from hospital ${hospital}` : ''}`);
  const hospitals = [...new Set(rows.map((r) => r.hospital_code))];
  if (hospitals.length > 1) throw new CommandError(`prescription number ${ref} is used by ${hospitals.length} hospitals (${hospitals.join(', ')}): add --hospital CODE`);
  return rows[0];
}
