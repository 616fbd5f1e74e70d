import type { Command } from 'commander';
import { UsageError } from '../run.js';

/** `effscale codec-server`: the Temporal UI's window onto effscale's encrypted payloads (docs/kubernetes.md). */
export function registerCodecServer(program: Command): void {
  program
    .command('codec-server')
    .description(
      "decode effscale's encrypted payloads for the Temporal UI (its codec endpoint): POST /encode and /decode",
    )
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <port>', 'port', '8081')
    .option('--token-file <file>', 'require `Authorization: Bearer <token>` (the UI forwards its access token)')
    .option('--ui-origin <url>', "the Temporal UI's origin: browsers may call the codec from there only")
    .action(async (flags: { host: string; port: string; tokenFile?: string; uiOrigin?: string }) => {
      const { readFile } = await import('node:fs/promises');
      const { payloadCodec } = await import('../../worker/codec.js');
      const { BearerAuth, tokenFromFile } = await import('../../serve/auth.js');
      const { codecServer } = await import('../../serve/codec-server.js');
      const codec = payloadCodec();
      if (!codec) throw new UsageError('codec-server needs EFFSCALE_PAYLOAD_KEY_FILE: the key that seals the payloads');
      const port = Number(flags.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError(`--port: expected a port number, got '${flags.port}'`);
      const auth = flags.tokenFile
        ? new BearerAuth(tokenFromFile(await readFile(flags.tokenFile, 'utf8'), flags.tokenFile))
        : undefined;
      const server = codecServer({ codec, auth, uiOrigin: flags.uiOrigin });
      server.listen(port, flags.host, () => {
        const address = server.address();
        const bound = typeof address === 'object' && address ? address.port : port;
        console.error(
          `effscale: codec server on http://${flags.host}:${bound} (key ${codec.keyId}` +
            `${auth ? ', token required' : ''}); Ctrl-C stops it`,
        );
      });
      await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
      server.close();
    });
}
