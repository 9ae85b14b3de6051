// Package config owns pinlb's HCL configuration language: the schema, the
// defaults, and the pipeline Default → Load (files and directories, sorted) →
// Merge → Finalize → Validate that turns HCL and JSON files into a plain,
// value-typed Config for the rest of the program.
//
// Every problem is reported at once as an hcl.Diagnostic with a source range,
// and FormatDiagnostics prints them as file:line:col lines.
package config
