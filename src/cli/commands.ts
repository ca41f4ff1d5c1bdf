/**
 * The list of subcommands. Each register function only declares options;
 * the implementation is imported lazily inside its action.
 */
import type { Command } from 'commander';
import { registerServe } from './serve-command.js';
import { registerNaluCommand } from './nalu-command.js';
import { registerView } from './view-command.js';
import { registerRecord } from './record-command.js';
import { registerVideos } from './videos-command.js';
import { registerStatus } from './status-command.js';
import { registerDiscover } from './discover-command.js';
import { registerDoctor } from './doctor-command.js';
import { registerClip } from './clip-command.js';

/** Adds one subcommand to the program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerServe,
  registerNaluCommand,
  registerView,
  registerRecord,
  registerVideos,
  registerClip,
  registerStatus,
  registerDiscover,
  registerDoctor,
];
