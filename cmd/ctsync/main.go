// Command ctsync keeps Microsoft Entra B2B users in sync between the tenants
// of a multi-tenant organisation. It is one binary with subcommands; run
// `ctsync help` for the list and `ctsync COMMAND --help` for each.
//
// Exit codes: 0 success, 1 a run that completed with failures, 2 a usage or
// configuration error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes shared by every subcommand.
const (
	exitOK       = 0
	exitFailures = 1
	exitUsage    = 2
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	// usage is the argument synopsis after the command name.
	usage string
	// run parses args with fs (already holding the common flags) and works;
	// it returns the exit code.
	run func(ctx context.Context, env *env, fs *flag.FlagSet, args []string) int
}

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

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, &env{stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// runMain dispatches to a subcommand; tests call it directly.
func runMain(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return runCommand(ctx, e, c, []string{"--help"})
			}
		}
		printUsage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		e.errorf("unknown command %q; run 'ctsync help'", args[0])
		return exitUsage
	}
	return runCommand(ctx, e, c, args[1:])
}

func runCommand(ctx context.Context, e *env, c *command, args []string) int {
	fs := flag.NewFlagSet("ctsync "+c.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	logFlags(fs, e)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ctsync %s %s\n\n%s\n\nflags:\n", c.name, c.usage, c.summary)
		fs.PrintDefaults()
	}
	return c.run(ctx, e, fs, args)
}

// parse parses flags; it returns false with the exit code when the command
// should stop (help asked: 0, bad flags: 2).
func parse(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "ctsync keeps Entra B2B users in sync between the tenants of a multi-tenant organisation.")
	fmt.Fprintln(w, "\nusage: ctsync COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'ctsync COMMAND --help' for a command's flags. Exit codes: 0 ok, 1 failures, 2 usage or configuration error.")
}

// configFlag adds the common -c/--config flag.
func configFlag(fs *flag.FlagSet) *string {
	p := fs.String("config", "config.toml", "path of the configuration `file`")
	fs.StringVar(p, "c", "config.toml", "shorthand for --config")
	return p
}
