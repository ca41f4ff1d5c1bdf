/**
 * Every command's --help shows examples (round 1: serve, nalu, view and the
 * videos subcommands had none). Commands are read from the help itself, so
 * a new command without examples fails here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli } from './cli-run.js';

/** Command names listed under "Commands:" in a help text (without `help`). */
function commandsOf(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1]?.split(/^\S/m)[0] ?? '';
  return [...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1] as string).filter((n) => n !== 'help');
}

describe('--help has examples', () => {
  it('for the program, every command and every subcommand', async () => {
    const root = await runCli(['--help']);
    assert.equal(root.code, 0);
    assert.match(root.stdout, /^Examples:$/m);
    const commands = commandsOf(root.stdout);
    assert.ok(
      commands.includes('serve') && commands.includes('view') && commands.includes('videos'),
      commands.join(' '),
    );
    const missing: string[] = [];
    for (const command of commands) {
      const help = await runCli([command, '--help']);
      assert.equal(help.code, 0, `${command} --help`);
      if (!/^Examples:$/m.test(help.stdout)) missing.push(command);
      for (const sub of commandsOf(help.stdout)) {
        const subHelp = await runCli([command, sub, '--help']);
        assert.equal(subHelp.code, 0, `${command} ${sub} --help`);
        if (!/^Examples:$/m.test(subHelp.stdout)) missing.push(`${command} ${sub}`);
      }
    }
    assert.deepEqual(missing, [], 'commands whose --help has no examples');
  });
});
