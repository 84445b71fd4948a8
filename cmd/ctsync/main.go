// Command ctsync keeps Microsoft Entra B2B users in sync between the tenants
// of a multi-tenant organisation. It is one binary with subcommands; run
// `ctsync help` for the list and `ctsync COMMAND --help` for each. The
// reference of every command is generated into docs/cli (`make docs`).
//
// Exit codes: 0 success, 1 a run that completed with failures, 2 a usage or
// configuration error (`once`: 3 when a pair's lease is held elsewhere;
// `plan --detailed-exitcode`: 2 when changes are pending).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Exit codes shared by every subcommand.
const (
	exitOK       = 0
	exitFailures = 1
	exitUsage    = 2
)

// command is one subcommand, or a group of them (map). The cobra commands
// are built from these for each runMain call (newRootCmd): nothing of
// cobra's lives between runs.
type command struct {
	name    string
	summary string
	// usage is the argument synopsis after the command name.
	usage string
	// long, when set, follows the summary in the command's help.
	long string
	// example is the help's Examples section: real, runnable command
	// lines, indented two spaces, a comment line above each.
	example string
	// args checks the positional arguments; nil means none (noArgs).
	args cobra.PositionalArgs
	// flags defines the command's flags on fs and returns the function
	// that runs the command once they are parsed (nil for a group).
	flags func(fs *pflag.FlagSet) runFunc
	// usageExit, when set, is the exit code of a usage error given the
	// command line (plan --detailed-exitcode exits 1, never 2, on one).
	usageExit func(args []string) int
	// subs are a group's subcommands.
	subs []*command
}

// runFunc runs a command with its flags parsed and its positional
// arguments; it returns the exit code.
type runFunc func(ctx context.Context, e *env, args []string) int

// env is what every command gets: its output streams and log settings.
type env struct {
	stdout, stderr io.Writer
	// logLevel is the level of the structured log on stderr.
	logLevel slog.Level
	// logFormat is the log's format: "text" (the default) or "json".
	logFormat string
}

// logger returns the structured logger commands log through (stderr), as
// --log-format and --log-level say (see logging.go).
func (e *env) logger() *slog.Logger {
	return newLogger(e.stderr, e.logFormat, e.logLevel)
}

func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "ctsync: "+format+"\n", args...)
}

// commands are the top-level commands, registered by each file's init and
// never changed afterwards.
var commands []*command

func register(c *command) { commands = append(commands, c) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

const rootLong = `ctsync keeps Entra B2B users in sync between the tenants of a multi-tenant organisation.

Exit codes: 0 ok, 1 failures, 2 usage or configuration error; once exits 3
when a pair's lease is held elsewhere, and plan --detailed-exitcode exits 2
when changes are pending (1 on any error). The reference of every command is
in docs/cli.`

const rootExample = `  # Sync a simulated three-tenant mesh: no Azure, no Redis, no configuration
  ctsync demo

  # Check a configuration, then run one cycle of every pair
  ctsync validate config.toml
  ctsync once -c config.toml

  # A command's flags and examples
  ctsync once --help`

// runMain runs the command that args name and returns its exit code;
// tests call it directly. Each call
// builds its own command tree, so calls may run in parallel.
func runMain(ctx context.Context, e *env, args []string) int {
	if args == nil {
		args = []string{} // cobra would read os.Args for nil
	}
	code := exitOK
	root, byCmd := newRootCmd(e, &code)
	root.SetArgs(args)
	if cmd, _, err := root.Find(args); err == nil {
		if err := singleDashLong(cmd, args); err != nil {
			return usageError(e, cmd, byCmd[cmd], args, err)
		}
	}
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		return usageError(e, cmd, byCmd[cmd], args, err)
	}
	return code
}

// usageError reports a usage error (an unknown command or flag, a bad
// flag value, an unexpected argument) with the command's usage line; it
// returns its exit code: 2, or what the command's usageExit says.
func usageError(e *env, cmd *cobra.Command, c *command, args []string, err error) int {
	e.errorf("%v", err)
	if cmd != nil {
		fmt.Fprintf(e.stderr, "usage: %s\nRun '%s --help' for its flags and examples.\n", cmd.UseLine(), cmd.CommandPath())
	}
	if c != nil && c.usageExit != nil {
		return c.usageExit(args)
	}
	return exitUsage
}

// newRootCmd builds the command tree for one run: each command's RunE
// stores its exit code in *code. byCmd maps the cobra commands back to
// ours.
func newRootCmd(e *env, code *int) (*cobra.Command, map[*cobra.Command]*command) {
	root := &cobra.Command{
		Use:     "ctsync COMMAND",
		Short:   "keep Entra B2B users in sync between the tenants of a multi-tenant organisation",
		Long:    rootLong,
		Example: rootExample,
		Version: readVersion().String(), // ctsync --version
		// The errors are printed once, by runMain, with the usage line.
		SilenceErrors:     true,
		SilenceUsage:      true,
		DisableAutoGenTag: true, // docs/cli stays the same from one day to the next
	}
	// Before completionCmd: cobra's completion commands keep the writer.
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetHelpCommand(helpCmd())
	logFlags(root.PersistentFlags(), e)
	byCmd := map[*cobra.Command]*command{}
	var add func(parent *cobra.Command, c *command)
	add = func(parent *cobra.Command, c *command) {
		cc := cobraCommand(e, c, code)
		byCmd[cc] = c
		for _, s := range c.subs {
			add(cc, s)
		}
		parent.AddCommand(cc)
	}
	for _, c := range commands {
		add(root, c)
	}
	root.AddCommand(genDocsCmd(e, code))
	completionCmd(root)
	return root, byCmd
}

// cobraCommand builds c's cobra command. Its RunE always returns nil for a
// command that ran (the exit code is in *code): an error from cobra's
// Execute is always a usage error.
func cobraCommand(e *env, c *command, code *int) *cobra.Command {
	use := c.name
	if c.usage != "" {
		use += " " + c.usage
	}
	long := "" // the help shows the summary alone
	if c.long != "" {
		long = c.summary + "\n\n" + c.long
	}
	cc := &cobra.Command{
		Use:     use,
		Short:   c.summary,
		Long:    long,
		Example: c.example,
		Args:    c.args,
	}
	if cc.Args == nil {
		cc.Args = noArgs
	}
	if c.flags == nil {
		// A group: run with no subcommand, it says which there are.
		cc.Args = unknownSub
		cc.RunE = func(cmd *cobra.Command, _ []string) error {
			names := make([]string, 0, len(c.subs))
			for _, s := range c.subs {
				names = append(names, s.name)
			}
			return fmt.Errorf("%s needs a subcommand: %s", c.name, strings.Join(names, " or "))
		}
		return cc
	}
	run := c.flags(cc.Flags())
	cc.RunE = func(cmd *cobra.Command, args []string) error {
		*code = run(cmd.Context(), e, args)
		return nil
	}
	return cc
}

// completionCmd adds cobra's `completion bash|zsh|fish|powershell` to
// root, in the style of the other commands: examples, and exit 2 for a
// shell it does not know.
func completionCmd(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Use = "completion bash|zsh|fish|powershell"
		c.Short = "print the shell completion script for bash, zsh, fish or powershell"
		c.Example = `  # Completion in the current bash session
  source <(ctsync completion bash)

  # For every zsh session (then start a new shell)
  ctsync completion zsh > "${fpath[1]}/_ctsync"`
		c.Args = unknownSub
		c.RunE = func(*cobra.Command, []string) error {
			return fmt.Errorf("completion needs a shell: bash, zsh, fish or powershell")
		}
		for _, sh := range c.Commands() {
			sh.Example = fmt.Sprintf("  # The %[1]s script on stdout\n  ctsync completion %[1]s > ctsync-completion.%[1]s", sh.Name())
		}
	}
}

// noArgs is the positional-argument check of a command that takes none.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments; got %q", cmdName(cmd), args)
	}
	return nil
}

// maxOneArg is the check of a command with one optional argument.
func maxOneArg(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("%s takes at most one argument; got %q", cmdName(cmd), args)
	}
	return nil
}

// cmdName is cmd's path without the program's name: "map export".
func cmdName(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// unknownSub is a group's check: any argument is a subcommand it lacks.
func unknownSub(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}

// helpCmd is `ctsync help [COMMAND]`: cobra's, except that an unknown
// command is a usage error (exit 2) rather than the root's help.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "help about any command",
		Long:  "Help shows a command's usage, flags and examples: ctsync help map rebuild.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() && strings.HasPrefix(s.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(s.Name(), s.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return fmt.Errorf("unknown command %q for %q", rest[0], cmd.CommandPath())
			}
			cmd.InitDefaultHelpFlag()
			cmd.InitDefaultVersionFlag()
			return cmd.Help()
		},
	}
}

// singleDashLong reports a long flag of cmd written with one dash
// (-config), which Go's flag package took and pflag would read as
// shorthands (-c onfig): a usage error naming the two-dash form.
func singleDashLong(cmd *cobra.Command, args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") || strings.HasPrefix(a, "--") {
			continue
		}
		name, _, _ := strings.Cut(a[1:], "=")
		if len(name) < 2 {
			continue
		}
		if cmd.Flags().Lookup(name) != nil || cmd.InheritedFlags().Lookup(name) != nil || name == "help" {
			return fmt.Errorf("%s: a long flag takes two dashes: --%s", a, a[1:])
		}
	}
	return nil
}

// configFlag adds the common -c/--config flag.
func configFlag(fs *pflag.FlagSet) *string {
	return fs.StringP("config", "c", "config.toml", "path of the configuration `file`")
}

// aliases is a flag set's normalization for flags renamed since: each
// old name in names reads as its new one.
func aliases(names map[string]string) func(*pflag.FlagSet, string) pflag.NormalizedName {
	return func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if n, ok := names[name]; ok {
			return pflag.NormalizedName(n)
		}
		return pflag.NormalizedName(name)
	}
}
