/**
 * `costwatch`: every role and operator action. Only the module of the command being run is loaded
 * (a one-shot command such as `migrate status` does not load the AWS SDK, Express or BullMQ);
 * `--help` and unknown commands load them all to list them.
 */
import { Command, CommanderError } from 'commander';

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  migrate: async () => (await import('./migrate.command.js')).registerMigrateCommand,
  worker: async () => (await import('./roles.command.js')).registerRoleCommands,
  scheduler: async () => (await import('./roles.command.js')).registerRoleCommands,
  org: async () => (await import('./org.command.js')).registerOrgCommand,
  backfill: async () => (await import('./backfill.command.js')).registerBackfillCommand,
  sim: async () => (await import('../sim/main.js')).registerSimCommand,
  api: async () => (await import('./api.command.js')).registerApiCommand,
  user: async () => (await import('./user.command.js')).registerUserCommand,
  doctor: async () => (await import('./doctor.command.js')).registerDoctorCommand,
  budget: async () => (await import('./budget.command.js')).registerBudgetCommands,
  channel: async () => (await import('./budget.command.js')).registerBudgetCommands,
  anomaly: async () => (await import('./anomaly.command.js')).registerAnomalyCommand,
  export: async () => (await import('./export.command.js')).registerExportCommand,
};

const program = new Command('costwatch')
  .description(
    'CostWatch: multi-tenant AWS cost monitoring (api, scheduler, worker, sim and operator commands)',
  )
  .showHelpAfterError()
  .exitOverride();

try {
  const requested = process.argv[2];
  const loader = requested === undefined ? undefined : COMMANDS[requested];
  const registers = loader
    ? [await loader()]
    : await Promise.all(Object.values(COMMANDS).map((load) => load()));
  for (const register of new Set(registers)) register(program);
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode);
  process.stderr.write(`costwatch: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
