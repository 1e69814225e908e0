// The shape of porthole.yaml: every key, its default and what counts as valid.
// Unknown keys are errors everywhere (strict objects), so a typo can never silently switch a protection off.
import net from 'node:net';
import { z } from 'zod';
import { isLoopbackAddress } from '../metrics/loopback.js';
import { parseDuration, parseSize } from './duration.js';

const duration = z.union([z.string(), z.number().int().nonnegative()]).transform((value, ctx) => {
  if (typeof value === 'number') return value * 1000;
  const ms = parseDuration(value);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like "90s", "10m", "24h" or "30d", got "${value}"` });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.string(), z.number().int().nonnegative()]).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const bytes = parseSize(value);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: `expected a size like "100MB" or "4GiB", got "${value}"` });
    return z.NEVER;
  }
  return bytes;
});

/** A secret given inline, or read from an environment variable or a file (Docker/Kubernetes secrets). */
const secret = z.union([
  z.string().min(1),
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name') }),
  z.strictObject({ file: z.string().min(1) }),
]);
export type SecretRef = z.infer<typeof secret>;

/** Where the state lives: one SQLite file (one gateway), or a Redis several gateways share (src/store/redis/). */
const REDIS_URL_EXAMPLE = 'expected a URL like redis://127.0.0.1:6379 or rediss://redis.example.com:6380 (TLS)';
const redisUrl = z
  .string()
  .regex(/^rediss?:\/\/[^/\s]+/, { message: REDIS_URL_EXAMPLE, abort: true })
  // One message per mistake: a URL that does not parse (a port past 65535, say) is not blamed on a password.
  .superRefine((url, ctx) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      ctx.addIssue({ code: 'custom', message: `${REDIS_URL_EXAMPLE}; this one does not parse (check the host name and the port)` });
      return;
    }
    if (parsed.password !== '') ctx.addIssue({ code: 'custom', message: 'expected a URL without a password: give it as store.password ({ env: NAME } or { file: path })' });
  });
const storeConfig = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('sqlite') }),
  z.strictObject({
    kind: z.literal('redis'),
    url: redisUrl,
    password: secret.optional(),
    /** Prefix of every key and channel, so several installations can share one Redis. */
    keyPrefix: z
      .string()
      .regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'expected up to 64 letters, digits and : _ . -')
      .default('porthole:'),
    /** Audit events kept in Redis's stream (and in each gateway's memory); the oldest go first. */
    maxAuditEvents: z.number().int().min(1000).max(10_000_000).default(100_000),
    /** Share-link record rows kept the same way. */
    maxLinkEvents: z.number().int().min(1000).max(10_000_000).default(200_000),
  }),
]);

const hostname = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(
    z
      .string()
      .regex(
        /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
        'expected a host name such as photos.example.com (no scheme, port or path)',
      ),
  );

const listenAddress = z.string().refine((s) => net.isIP(s) !== 0, 'expected an IP address such as 0.0.0.0, 127.0.0.1 or ::');
const port = z.number().int().min(0).max(65535);

/** "127.0.0.1:9464" or "[::1]:9464": an IP address (not a name, so what is bound is what is read) and a port. */
const addressAndPort = z.string().transform((value, ctx) => {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(value);
  const address = match?.[1] ?? match?.[2];
  const portNumber = Number(match?.[3]);
  if (!address || net.isIP(address) === 0 || !(portNumber <= 65535)) {
    ctx.addIssue({ code: 'custom', message: `expected address:port such as 127.0.0.1:9464 or [::1]:9464, got "${value}"` });
    return z.NEVER;
  }
  return { address, port: portNumber };
});

/** An allowlist entry: a full address, or "*@domain" for a whole domain. */
const allowEntry = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(
    z
      .string()
      .regex(
        /^(\*|[a-z0-9!#$%&'+/=?^_`{|}~.-]{1,64})@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/,
        'expected an email address (person@example.com) or a whole domain (*@example.com)',
      ),
  );

/** An admin: one exact address, never a whole domain. */
const adminEntry = z
  .string()
  .transform((s) => s.trim().toLowerCase())
  .pipe(
    z
      .string()
      .regex(/^[a-z0-9!#$%&'+/=?^_`{|}~.-]{1,64}@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/, 'expected one exact email address (person@example.com)'),
  );

const cidr = z.string().refine((s) => {
  const [address, bits, extra] = s.split('/');
  if (extra !== undefined || !address) return false;
  const family = net.isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}, 'expected an IP address or CIDR range such as 10.0.0.0/8');

/**
 * The per-client request rate (src/listener/request-rate.ts): `perSecond` requests in every second and `burst`
 * more within any 10 s. Measured (bench/request-rate.ts, docs/deploy.md): Chromium over HTTP/2 opening a
 * share page that loads 3,000 thumbnails at once (harsher than Immich's timeline, which loads what is on screen)
 * sent 1,600 requests in its busiest second and 3,005 within 10 s; a 200-thumbnail page, 205 in one second. So
 * 200/s plus 3,000 lets the biggest page through with the rest of a family behind the same IPv4 address still
 * browsing, while one address can keep up no more than about 500 requests per second. Off: `false` (or 0).
 */
const requestRateLimits = z.strictObject({
  perSecond: z
    .number()
    .min(1, 'expected at least 1 request per second (requestRate: false switches the limit off)')
    .max(1_000_000)
    .multipleOf(1, 'expected a whole number')
    .default(200),
  burst: z.number().min(0).max(10_000_000).multipleOf(1, 'expected a whole number').default(3000),
});
const requestRate = z
  .unknown()
  .transform((value, ctx): false | z.output<typeof requestRateLimits> => {
    if (value === false || value === 0) return false;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: `expected { perSecond, burst } or false (no request-rate limit), got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    const parsed = requestRateLimits.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) {
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (known keys: perSecond, burst)`
          : issue.message;
      ctx.addIssue({ code: 'custom', path: issue.path, message });
    }
    return z.NEVER;
  })
  .prefault({});

const smtp = z.strictObject({
  host: z.string().min(1),
  port: port.default(587),
  /** starttls: upgrade on 587 (required, never plaintext); tls: implicit TLS on 465; none: local relay only. */
  security: z.enum(['starttls', 'tls', 'none']).default('starttls'),
  user: z.string().optional(),
  password: secret.optional(),
  /** Reject self-signed SMTP certificates unless explicitly allowed (for a relay on the same machine). */
  allowInvalidCertificate: z.boolean().default(false),
});

export const configSchema = z
  .strictObject({
    listen: z
      .strictObject({
        address: listenAddress.default('0.0.0.0'),
        httpPort: port.default(8080),
        /** Set when Porthole terminates TLS itself (and for the tunnel). */
        httpsPort: port.optional(),
        /** Open connections per client IPv4 address or IPv6 /64, both ports together; trusted proxies are not capped. */
        maxConnectionsPerAddress: z.number().int().min(1).max(1_000_000).default(256),
        /** Requests per client (IPv4 address or IPv6 /64, as trustedProxies resolve it), both hosts and ports; over it: 429. */
        requestRate,
      })
      .prefault({}),
    hosts: z.strictObject({
      private: hostname,
      share: hostname.optional(),
    }),
    /** Whether browsers reach Porthole over HTTPS (directly or through a TLS proxy): drives Secure/__Host- cookies. */
    publicScheme: z.enum(['https', 'http']).default('https'),
    /** The port people reach Porthole on when a proxy or port forward in front maps it (links name it). */
    publicPort: port.min(1, 'expected a port from 1 to 65535').optional(),
    origin: z.strictObject({
      url: z.url({ protocol: /^http$/, error: 'expected an http:// URL such as http://immich-server:2283' }).refine((u) => {
        const parsed = new URL(u);
        return (parsed.pathname === '/' || parsed.pathname === '') && !parsed.search && !parsed.hash && !parsed.username;
      }, 'expected just scheme, host and port: Immich cannot live under a sub-path'),
    }),
    gate: z.strictObject({
      allow: z.array(allowEntry).min(1, 'list at least one address or *@domain that may sign in'),
      /** Who sees the admin page (/.porthole/admin): exact addresses, each also allowed by gate.allow. */
      admins: z.array(adminEntry).max(100).default([]),
      codeLifetime: duration.prefault('10m'),
      maxCodeAttempts: z.number().int().min(1).max(20).default(5),
      sessionLifetime: duration.prefault('24h'),
      /** Passkeys (WebAuthn) as a second way in after the first code sign-in; false hides every passkey feature. */
      passkeys: z.boolean().default(true),
      /** Limits on asking for codes and on trying them. */
      rateLimits: z
        .strictObject({
          /** Per address and client: what others ask for never uses up a person's own allowance. */
          codesPerAddressPerHour: z.number().int().min(1).default(5),
          codesPerIpPerHour: z.number().int().min(1).default(20),
          verifiesPerIpPerHour: z.number().int().min(1).default(30),
          /** Wrong codes for all addresses of one domain together, from all clients: guessing does not scale. */
          wrongCodesPerDomainPerHour: z.number().int().min(1).max(10_000).default(10),
        })
        .prefault({}),
    }),
    mail: z.strictObject({
      from: z.string().min(3),
      transport: z.enum(['smtp', 'console']).default('smtp'),
      /** Put the code in the subject too; off: subjects show on lock screens and in notifications. */
      codeInSubject: z.boolean().default(false),
      smtp: smtp.optional(),
    }),
    dataDir: z.string().min(1).default('./data'),
    store: storeConfig.prefault({ kind: 'sqlite' }),
    /** How long audit events are kept; older ones are deleted hourly, so the log cannot grow without bound. */
    auditRetention: duration.prefault('180d'),
    /** Audit rows per hour that requests without a session can add; past it they are only counted. */
    auditRowsPerHour: z.number().int().min(10).max(1_000_000).default(600),
    /** Only these peers may tell us the client address and scheme (X-Forwarded-*). */
    trustedProxies: z.array(cidr).default([]),
    proxy: z
      .strictObject({
        /** Optional cap on request bodies (answered with 413); unlimited by default like Immich. */
        maxBodySize: size.nullable().default(null),
        /** Idle (not total) timeout: a multi-hour upload is fine as long as bytes keep moving. */
        idleTimeout: duration.prefault('600s'),
        /** Bound on receiving request headers, against slowloris. */
        headersTimeout: duration.prefault('20s'),
      })
      .prefault({}),
    share: z
      .strictObject({
        /** Allow uploads through share links that permit them (Immich enables uploads on new links by default). */
        allowUploads: z.boolean().default(false),
        maxUploadSize: size.prefault('2GiB'),
        /** Keys or slugs of links that search engines may index. */
        publicLinks: z.array(z.string().min(1).max(200)).default([]),
        /** What `/` shows on the share host. */
        root: z.enum(['not-found', 'neutral-page']).default('not-found'),
        /** How long Porthole trusts what Immich said about a link (expiry, password, download, upload, metadata). */
        linkCacheTtl: duration.prefault('10s'),
        /**
         * Brute-force limits. Wrong link passwords are counted per link and client (IPv6 by /64): a few are free,
         * then each waits twice as long as the one before, then that client is stopped on that link until
         * `window` passes without a wrong one. The per-link ceiling is a last resort and never stops a client
         * that has no wrong password of its own.
         */
        rateLimits: z
          .strictObject({
            passwordFreeFailures: z.number().int().min(0).max(1_000).default(3),
            passwordFirstDelay: duration.prefault('2s'),
            passwordMaxDelay: duration.prefault('5m'),
            passwordFailuresPerClient: z.number().int().min(1).max(10_000).default(20),
            passwordFailuresPerIp: z.number().int().min(1).max(100_000).default(100),
            passwordFailuresPerLink: z.number().int().min(1).max(1_000_000).default(500),
            unknownLinksPerIp: z.number().int().min(1).max(100_000).default(30),
            window: duration.prefault('15m'),
          })
          .refine((limits) => limits.passwordFirstDelay <= limits.passwordMaxDelay, {
            message: 'passwordFirstDelay must not exceed passwordMaxDelay',
            path: ['passwordFirstDelay'],
          })
          .prefault({}),
        /** The record kept per share link (views, unlocks, downloads, uploads, refusals); `porthole links show`. */
        linkRecords: z
          .strictObject({
            /** Record whole client addresses instead of their IPv4 /24 or IPv6 /48 prefix. */
            fullClientAddress: z.boolean().default(false),
            /** Rows one link's record may gain per hour; past it events are only counted (one "dropped" row). */
            rowsPerHour: z.number().int().min(10).max(100_000).default(120),
            /** Rows kept per link; the oldest go first (besides auditRetention, which applies too). */
            maxRowsPerLink: z.number().int().min(100).max(1_000_000).default(5000),
          })
          .prefault({}),
        /** Optional rules on top of what each link allows; each refusal is the share host's 404, audited with the rule's name. */
        rules: z
          .strictObject({
            /** Refuse links created longer ago than this (e.g. "365d"); null: no limit. */
            maxLinkAge: duration.nullable().default(null),
            /** Refuse album links that have no password. */
            albumLinksNeedPassword: z.boolean().default(false),
            /** Refuse every upload through share links, whatever the link and share.allowUploads say. */
            noUploads: z.boolean().default(false),
          })
          .prefault({}),
      })
      .prefault({}),
    /** The Immich API, for `porthole links audit`: an API key of the user whose links are audited (Immich lists only a user's own). */
    immich: z
      .strictObject({
        /** Needs the permissions sharedLink.read (and sharedLink.update for `--fix --apply`). */
        apiKey: secret.optional(),
      })
      .prefault({}),
    /** Certificate for the HTTPS port: files, ACME, or (neither) a self-signed one made once and kept in the data dir. */
    tls: z
      .strictObject({
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        /** Certificates from an ACME CA (src/tls/acme.ts) for the private, share and tunnel names. */
        acme: z
          .strictObject({
            directory: z
              .union([
                z.enum(['letsencrypt', 'letsencrypt-staging']),
                z.url({ protocol: /^https$/, error: 'expected letsencrypt, letsencrypt-staging or an https:// ACME directory URL' }),
              ])
              .default('letsencrypt'),
            email: z.email().optional(),
            challenge: z.enum(['http-01', 'tls-alpn-01']).default('http-01'),
            /** External account binding, for CAs that require one (ZeroSSL, Google): key id and HMAC key from the CA. */
            eab: z.strictObject({ kid: z.string().min(1), hmacKey: secret }).optional(),
          })
          .optional(),
        /** Plain HTTP answers with a redirect to HTTPS (ACME challenges excepted); default: on with acme. */
        redirectHttp: z.boolean().optional(),
        hsts: z.union([z.literal(false), z.strictObject({ maxAge: duration.prefault('365d'), includeSubDomains: z.boolean().default(false) })]).prefault({}),
      })
      .prefault({}),
    /**
     * HTTP/2 on the HTTPS port (ALPN h2 next to http/1.1), and its limits per connection (src/listener/http2.ts).
     * A browser scrolling a large timeline stays far below each of them.
     */
    http2: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Requests one connection may have open at once; more are refused with REFUSED_STREAM (the browser waits). */
        maxConcurrentStreams: z.number().int().min(1).max(1000).default(128),
        /** Bytes of one request's header list (decoded, 32 per field on top); over it: 431 or a stream reset. */
        maxHeaderListSize: size.prefault('32KiB').pipe(
          z
            .number()
            .int()
            .min(4096)
            .max(1024 * 1024),
        ),
        /** Requests the client cancels (RST_STREAM) per `window` before the connection is closed (CVE-2023-44487). */
        resetsPerWindow: z.number().int().min(10).max(100_000).default(500),
        /** SETTINGS and PING frames the client may send per `window`; past it the connection is closed. */
        controlFramesPerWindow: z.number().int().min(10).max(100_000).default(100),
        window: duration.prefault('10s'),
      })
      .prefault({}),
    /** Liveness and readiness for Docker and load balancers, on their own address (off unless set). */
    health: z.strictObject({ address: listenAddress.default('127.0.0.1'), port }).optional(),
    /** The far end of the tunnel: home connectors (`porthole connect`) dial the HTTPS port. */
    tunnel: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** host:port connectors dial, written into tokens (the public name of listen.httpsPort). */
        publicAddress: z
          .string()
          .regex(/^([a-z0-9.-]{1,253}|\[[0-9a-f:.]{2,45}\]):\d{1,5}$/i, 'expected host:port such as gateway.example.com:443')
          .optional(),
      })
      .prefault({}),
    /** Lets Immich's first-admin sign-up and restore endpoints through; off once Immich is set up. */
    allowImmichSetup: z.boolean().default(false),
    log: z
      .strictObject({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
        /** auto: readable lines on a terminal, JSON lines otherwise (pipes, files, log collectors). */
        format: z.enum(['auto', 'pretty', 'json']).default('auto'),
      })
      .prefault({}),
    /** Prometheus metrics on their own listener; off unless `listen` is set. */
    metrics: z
      .strictObject({
        listen: addressAndPort.optional(),
        /** The endpoint has no sign-in: any address other than loopback must be allowed explicitly. */
        allowNonLoopback: z.boolean().default(false),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.hosts.share && config.hosts.share === config.hosts.private) {
      ctx.addIssue({ code: 'custom', path: ['hosts', 'share'], message: 'the share host must differ from the private host' });
    }
    if (config.tunnel.enabled && config.listen.httpsPort === undefined) {
      ctx.addIssue({ code: 'custom', path: ['listen', 'httpsPort'], message: 'required when tunnel.enabled is true: connectors dial the HTTPS port' });
    }
    if (config.tls.certFile && !config.tls.keyFile) ctx.addIssue({ code: 'custom', path: ['tls', 'keyFile'], message: 'required when tls.certFile is set' });
    if (config.tls.keyFile && !config.tls.certFile) ctx.addIssue({ code: 'custom', path: ['tls', 'certFile'], message: 'required when tls.keyFile is set' });
    if (config.tls.acme && config.tls.certFile) {
      ctx.addIssue({ code: 'custom', path: ['tls', 'acme'], message: 'give either tls.acme or tls.certFile/keyFile, not both' });
    }
    if ((config.tls.acme || config.tls.redirectHttp) && config.listen.httpsPort === undefined) {
      ctx.addIssue({ code: 'custom', path: ['listen', 'httpsPort'], message: 'required with tls.acme or tls.redirectHttp: Porthole must serve HTTPS itself' });
    }
    if (config.metrics.listen && !config.metrics.allowNonLoopback && !isLoopbackAddress(config.metrics.listen.address)) {
      ctx.addIssue({
        code: 'custom',
        path: ['metrics', 'listen'],
        message: 'not a loopback address: the metrics endpoint has no sign-in; use 127.0.0.1 or ::1, or set metrics.allowNonLoopback: true',
      });
    }
    config.gate.admins.forEach((admin, i) => {
      const domain = admin.slice(admin.lastIndexOf('@') + 1);
      if (!config.gate.allow.includes(admin) && !config.gate.allow.includes(`*@${domain}`)) {
        ctx.addIssue({ code: 'custom', path: ['gate', 'admins', i], message: `${admin} is not allowed to sign in: add it to gate.allow too` });
      }
    });
    if (config.mail.transport === 'smtp' && !config.mail.smtp) {
      ctx.addIssue({ code: 'custom', path: ['mail', 'smtp'], message: 'required when mail.transport is smtp' });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
