// The part of the config the gate reads: every module of src/gate takes this slice (or less), never the whole
// config, so what the gate depends on is visible here.
import type { ResolvedConfig } from '../config/load.js';

export type GateConfig = Pick<ResolvedConfig, 'gate' | 'hosts' | 'publicScheme' | 'publicPort' | 'dataDir' | 'proxy' | 'allowImmichSetup' | 'mail'>;
