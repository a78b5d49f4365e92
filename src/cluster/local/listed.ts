import { processStartTime, type Ledger, type Resource } from '../../core/ledger.ts';

/** What one owner (the run, a pod) created, listed in the run's ledger until it is gone. */
export class Listed {
  private readonly items: Resource[] = [];

  constructor(private readonly ledger: Ledger) {}

  add(r: Resource): void {
    this.items.push(r);
    this.ledger.add(r);
  }

  /** A process, with its start time (a janitor never kills a reused pid). */
  addProcess(pid: number): void {
    this.add({ kind: 'process', pid, startTime: processStartTime(pid) ?? '' });
  }

  /** Takes the matching resources off the ledger: they are gone. */
  remove(match: (r: Resource) => boolean = () => true): void {
    const gone = this.items.filter(match);
    if (gone.length === 0) return;
    this.ledger.remove((r) => gone.some((g) => JSON.stringify(g) === JSON.stringify(r)));
    for (const g of gone) this.items.splice(this.items.indexOf(g), 1);
  }
}
