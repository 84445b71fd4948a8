package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// genDocsCmd is the hidden `ctsync gen-docs --dir DIR [--man]`: the
// markdown reference of every command (docs/cli, `make docs`; a test
// fails when it is stale) and, with --man, their man pages. It works on
// the command tree itself, so it is built beside the registered commands
// rather than registered as one of them.
func genDocsCmd(e *env, code *int) *cobra.Command {
	var dir string
	var man bool
	cc := &cobra.Command{
		Use:    "gen-docs --dir DIR [--man]",
		Short:  "write the markdown reference of every command (and with --man their man pages) to DIR",
		Hidden: true,
		Args:   noArgs,
		Example: `  # The reference in docs/cli, as make docs writes it
  ctsync gen-docs --dir docs/cli

  # Man pages too, for packaging
  ctsync gen-docs --dir /tmp/ctsync-man --man`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return fmt.Errorf("gen-docs needs --dir")
			}
			*code = genDocs(e, cmd.Root(), dir, man)
			return nil
		},
	}
	cc.Flags().StringVar(&dir, "dir", "", "`directory` to write the pages to (created when missing)")
	cc.Flags().BoolVar(&man, "man", false, "also write man pages (section 1)")
	return cc
}

func genDocs(e *env, root *cobra.Command, dir string, man bool) int {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.errorf("gen-docs: %v", err)
		return exitFailures
	}
	// The pages document what `ctsync CMD --help` shows, --version
	// included, and carry no generation date: docs/cli stays the same
	// until a command changes.
	root.InitDefaultVersionFlag()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		e.errorf("gen-docs: %v", err)
		return exitFailures
	}
	if man {
		header := &doc.GenManHeader{Title: "CTSYNC", Section: "1", Source: "ctsync " + readVersion().Version}
		if err := doc.GenManTree(root, header, dir); err != nil {
			e.errorf("gen-docs: %v", err)
			return exitFailures
		}
	}
	return exitOK
}
