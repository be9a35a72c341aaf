/** The host side: install containerd, write config.toml and hosts.toml, lint. (The containerd API client lives in src/containerd.) */
export { scanArchive, extractArchive, mapEntries, normaliseName, linkEscapes, type ArchiveEntry, type InstalledEntry, type EntryType } from './archive.js';
export { detectLayout, versionFromFileName, type Layout, type LayoutKind } from './layout.js';
export { unitText, type UnitOptions } from './unit.js';
export { runSteps, isSystemdRunning, execCapture, type Exec, type ExecResult, type RunnerOptions, type StepOutcome } from './runner.js';
export { parseRuncVersion, runcWarnings, compareVersions, checkRunc, MIN_LIBSECCOMP, type RuncInfo, type RuncCheck } from './runc.js';
export { findContainerd, parseContainerdVersion, schemaForVersion, CONTAINERD_PATHS, type InstalledContainerd } from './version.js';
export { planConfig, parseMirror, defaultConfigText, validateWithContainerd, CONFIG_FILE, KEYS, type ConfigOptions, type ConfigResult, type Mirror, type Schema } from './config.js';
export {
  planRegistryAdd,
  planRegistryRm,
  listRegistries,
  renderHostsToml,
  resolveHostsDir,
  validateHost,
  parseCapabilities,
  DEFAULT_HOSTS_DIR,
  type RegistryAddOptions,
  type RegistryInfo,
  type HostsFile,
  type Capability,
} from './hosts.js';
export { install, describeEntries, POST_INSTALL, type InstallOptions, type InstallResult } from './install.js';
export { applyFiles, renderPlan, changedFiles, hostPath, emptyPlan, type Plan, type FileChange, type PlannedCommand } from './plan.js';
export { unifiedDiff } from './diff.js';
export { TomlDocument, lexToml, type TomlStatement, type TomlLiteral } from './tomledit.js';
export { DEFAULT_CONFIG_V2, DEFAULT_CONFIG_V3 } from './defaults.js';
export { lint, analyseConfig, renderFindings, probeCertificate, type Finding, type LintOptions, type LintResult } from './lint.js';
