/**
 * `costwatch`: every role and operator action. Each command loads only what it needs, so a
 * one-shot command (migrate, org create) starts fast and never opens an unused connection.
 */
import { Command, CommanderError } from 'commander';
import { registerMigrateCommand } from './migrate.command.js';
import { registerStackCommand } from './stack.command.js';
import { registerOrgCommand } from './org.command.js';
import { registerBackfillCommand } from './backfill.command.js';
import { registerRoleCommands } from './roles.command.js';
import { registerSimCommand } from '../sim/main.js';
import { registerApiCommand } from './api.command.js';
import { registerUserCommand } from './user.command.js';
import { registerDoctorCommand } from './doctor.command.js';

const program = new Command('costwatch')
  .description('CostWatch: multi-tenant AWS cost monitoring (api, scheduler, worker, sim and operator commands)')
  .showHelpAfterError()
  .exitOverride();

registerStackCommand(program);
registerMigrateCommand(program);
registerRoleCommands(program);
registerOrgCommand(program);
registerBackfillCommand(program);
registerSimCommand(program);
registerApiCommand(program);
registerUserCommand(program);
registerDoctorCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`costwatch: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
