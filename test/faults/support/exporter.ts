// A loopback /metrics endpoint that a real Prometheus scrapes: Istio's request counter per service
// and arm, with whatever values a fault case wants (NaN, +Inf, a reset, a missing arm).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The value of one arm's counter at scrape n (0, 1, 2, …); undefined leaves the series out. */
export type ArmSeries = (scrape: number) => number | undefined;

export interface ExportedService {
  service: string;
  namespace?: string;
  stable: ArmSeries;
  canary: ArmSeries;
  /** 5xx counters, beside the 200s of `stable` / `canary`. */
  stableErrors?: ArmSeries;
  canaryErrors?: ArmSeries;
}

export interface Exporter {
  /** host:port for the Prometheus scrape config. */
  target: string;
  scrapes(): number;
  close(): Promise<void>;
}

function format(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export async function startExporter(services: ExportedService[]): Promise<Exporter & { services: ExportedService[] }> {
  let scrapes = 0;
  const server: Server = createServer((_request, response) => {
    const n = scrapes++;
    const lines = ['# TYPE istio_requests_total counter'];
    for (const s of services) {
      for (const [arm, code, series] of [
        ['stable', '200', s.stable],
        ['canary', '200', s.canary],
        ['stable', '500', s.stableErrors],
        ['canary', '500', s.canaryErrors],
      ] as const) {
        const value = series?.(n);
        if (value === undefined) continue;
        const labels = `reporter="destination",destination_service_name="${s.service}",destination_workload_namespace="${s.namespace ?? 'faults'}",destination_canonical_revision="${arm}",response_code="${code}",response_flags="-"`;
        lines.push(`istio_requests_total{${labels}} ${format(value)}`);
      }
    }
    response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    response.end(`${lines.join('\n')}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    services,
    target: `127.0.0.1:${port}`,
    scrapes: () => scrapes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
