/**
 * berth's packet filter and NAT rules, kept in chains of its own (named with the instance tag so
 * two daemons never touch each other's rules). The whole rule set is regenerated from the
 * service's state and loaded with ONE `iptables-restore --noflush` call: declaring a chain in
 * restore input flushes it, so a sync is atomic per table and idempotent, and a restart (or a
 * firewall reload that wiped the rules) is repaired by the same call.
 *
 * filter <TAG>-FWD, jumped to first from FORWARD (so a DROP policy or another engine's rules
 * never see berth's traffic):
 *   1. replies into each bridge; DNAT-ed traffic to a published port; traffic within a bridge
 *   2. anything else into one of berth's bridges is dropped: isolation between networks, and
 *      no access to unpublished container ports from outside
 *   3. traffic leaving an internal network is dropped
 * filter <TAG>-OUT, jumped to LAST from FORWARD: traffic leaving a normal network is accepted.
 *   Accepting it only at the end lets other daemons' chains (another berth instance, dockerd)
 *   drop traffic into their own bridges first, so isolation also holds between daemons, while
 *   a DROP policy still does not stop berth's containers.
 * filter <TAG>-IN, jumped to from INPUT: DNS queries to the embedded servers on the gateways.
 * nat <TAG>-DNAT, jumped to from PREROUTING and OUTPUT for local destinations: published ports.
 * nat <TAG>-POST: MASQUERADE for loopback-originated published-port traffic (needs
 * route_localnet on the bridge), hairpin traffic, and outbound traffic of non-internal networks.
 */
import { SystemError } from '../errors/index.js';
import { run, tryRun } from './exec.js';

export interface FirewallBridge { name: string; subnet: string; internal: boolean; /** embedded DNS port on the gateway, if any */ dnsPort?: number }
export interface FirewallMapping { proto: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerIp: string; containerPort: number; bridge: string }

interface Jump { table: string; chain: string; rule: string; append?: boolean }

export class Firewall {
  readonly fwd: string;
  readonly out: string;
  readonly input: string;
  readonly dnat: string;
  readonly post: string;
  private jumpsChecked = false;
  private queue: Promise<void> = Promise.resolve();

  constructor(tag: string) {
    const t = tag.toUpperCase().slice(0, 14);
    this.fwd = `BERTH-${t}-FWD`;
    this.out = `BERTH-${t}-OUT`;
    this.input = `BERTH-${t}-IN`;
    this.dnat = `BERTH-${t}-DNAT`;
    this.post = `BERTH-${t}-POST`;
  }

  private jumps(): Jump[] {
    return [
      { table: 'filter', chain: 'FORWARD', rule: `-j ${this.fwd}` },
      { table: 'filter', chain: 'FORWARD', rule: `-j ${this.out}`, append: true },
      { table: 'filter', chain: 'INPUT', rule: `-j ${this.input}` },
      { table: 'nat', chain: 'PREROUTING', rule: `-m addrtype --dst-type LOCAL -j ${this.dnat}` },
      { table: 'nat', chain: 'OUTPUT', rule: `-m addrtype --dst-type LOCAL -j ${this.dnat}` },
      { table: 'nat', chain: 'POSTROUTING', rule: `-j ${this.post}` },
    ];
  }

  /** The restore input for the given state (exported for unit tests). */
  render(bridges: FirewallBridge[], mappings: FirewallMapping[], missingJumps: Jump[] = []): string {
    const f: string[] = ['*filter', `:${this.fwd} - [0:0]`, `:${this.out} - [0:0]`, `:${this.input} - [0:0]`];
    // The embedded DNS listens on the gateway: let queries in even where INPUT's policy is DROP.
    for (const b of bridges.filter((x) => x.dnsPort)) {
      for (const proto of ['udp', 'tcp']) f.push(`-A ${this.input} -i ${b.name} -p ${proto} -m ${proto} --dport ${b.dnsPort} -j ACCEPT`);
    }
    for (const b of bridges) f.push(`-A ${this.fwd} -o ${b.name} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    for (const m of mappings) f.push(`-A ${this.mappingRules(m).filter}`);
    for (const b of bridges) f.push(`-A ${this.fwd} -i ${b.name} -o ${b.name} -j ACCEPT`);
    for (const b of bridges) f.push(`-A ${this.fwd} -o ${b.name} -j DROP`);
    for (const b of bridges.filter((x) => x.internal)) f.push(`-A ${this.fwd} -i ${b.name} -j DROP`);
    for (const b of bridges.filter((x) => !x.internal)) f.push(`-A ${this.out} -i ${b.name} -j ACCEPT`);
    for (const j of missingJumps.filter((x) => x.table === 'filter')) f.push(j.append ? `-A ${j.chain} ${j.rule}` : `-I ${j.chain} 1 ${j.rule}`);
    f.push('COMMIT');

    const n: string[] = ['*nat', `:${this.dnat} - [0:0]`, `:${this.post} - [0:0]`];
    for (const m of mappings) n.push(`-A ${this.mappingRules(m).nat}`);
    for (const b of bridges) n.push(`-A ${this.post} -s 127.0.0.0/8 -o ${b.name} -j MASQUERADE`);
    for (const b of bridges.filter((x) => !x.internal)) {
      n.push(`-A ${this.post} -s ${b.subnet} -o ${b.name} -m conntrack --ctstate DNAT -j MASQUERADE`);
      n.push(`-A ${this.post} -s ${b.subnet} ! -o ${b.name} -j MASQUERADE`);
    }
    for (const j of missingJumps.filter((x) => x.table === 'nat')) n.push(`-I ${j.chain} 1 ${j.rule}`);
    n.push('COMMIT');
    return [...f, ...n, ''].join('\n');
  }

  private async missingJumps(): Promise<Jump[]> {
    const out: Jump[] = [];
    for (const table of ['filter', 'nat']) {
      const saved = await run('iptables-save', ['-t', table]);
      for (const j of this.jumps().filter((x) => x.table === table)) {
        if (!saved.split('\n').includes(`-A ${j.chain} ${j.rule}`)) out.push(j);
      }
    }
    return out;
  }

  /** Loads the rule set; calls are serialised so the last state always wins. */
  sync(bridges: FirewallBridge[], mappings: FirewallMapping[]): Promise<void> {
    const next = this.queue.then(async () => {
      // One retry: another daemon changing the ruleset at the same moment can make a load fail.
      for (let attempt = 0; ; attempt++) {
        try {
          const missing = this.jumpsChecked ? [] : await this.missingJumps();
          await run('iptables-restore', ['--noflush'], this.render(bridges, mappings, missing));
          this.jumpsChecked = true;
          return;
        } catch (err) {
          this.jumpsChecked = false;
          if (attempt >= 1) throw hint(err);
        }
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  private mappingRules(m: FirewallMapping): { filter: string; nat: string } {
    const dst = m.hostIp && m.hostIp !== '0.0.0.0' ? ` -d ${m.hostIp}/32` : '';
    return {
      filter: `${this.fwd} -d ${m.containerIp}/32 -o ${m.bridge} -p ${m.proto} -m ${m.proto} --dport ${m.containerPort} -m conntrack --ctstate DNAT -j ACCEPT`,
      nat: `${this.dnat}${dst} -p ${m.proto} -m ${m.proto} --dport ${m.hostPort} -j DNAT --to-destination ${m.containerIp}:${m.containerPort}`,
    };
  }

  /**
   * Adds or removes the rules of some published ports without touching the rest: appending to a
   * chain costs a few ms with the nft backend, where re-filling a chain costs ~30 ms, so publishing
   * ports stays cheap on the container start path. `full` is the state to fall back to when the
   * incremental change does not apply (e.g. rules wiped behind berth's back).
   */
  update(add: FirewallMapping[], del: FirewallMapping[], full: () => { bridges: FirewallBridge[]; mappings: FirewallMapping[] }): Promise<void> {
    if (!add.length && !del.length) return this.queue;
    const next = this.queue.then(async () => {
      const f: string[] = ['*filter'];
      const n: string[] = ['*nat'];
      for (const m of add) { const r = this.mappingRules(m); f.push(`-I ${r.filter.replace(' ', ' 1 ')}`); n.push(`-A ${r.nat}`); }
      for (const m of del) { const r = this.mappingRules(m); f.push(`-D ${r.filter}`); n.push(`-D ${r.nat}`); }
      try {
        if (!this.jumpsChecked) throw new Error('full sync needed');
        await run('iptables-restore', ['--noflush'], [...f, 'COMMIT', ...n, 'COMMIT', ''].join('\n'));
      } catch {
        const st = full();
        const missing = this.jumpsChecked ? [] : await this.missingJumps();
        await run('iptables-restore', ['--noflush'], this.render(st.bridges, st.mappings, missing));
        this.jumpsChecked = true;
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Forces the next sync to re-check the jumps from the built-in chains. */
  recheck(): void { this.jumpsChecked = false; }

  /** Removes the jumps and chains (tests, uninstall). */
  async remove(): Promise<void> {
    await this.queue;
    for (const j of this.jumps()) {
      while (await tryRun('iptables', ['-t', j.table, '-D', j.chain, ...j.rule.split(' ')]));
    }
    for (const [table, chain] of [['filter', this.fwd], ['filter', this.out], ['filter', this.input], ['nat', this.dnat], ['nat', this.post]]) {
      await tryRun('iptables', ['-t', table, '-F', chain]);
      await tryRun('iptables', ['-t', table, '-X', chain]);
    }
    this.jumpsChecked = false;
  }
}

function hint(err: unknown): Error {
  const e = err as Error;
  if (/ENOENT/.test(e.message)) {
    return new SystemError(`${e.message}: berth's networking needs iptables (Debian package iptables, nft backend)`);
  }
  return e;
}
