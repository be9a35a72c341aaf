/** The systemd unit, with the settings of containerd's own containerd.service. */

export interface UnitOptions {
  /** Path of the containerd binary (default /usr/local/bin/containerd). */
  execStart?: string;
}

export function unitText(opts: UnitOptions = {}): string {
  const exec = opts.execStart ?? '/usr/local/bin/containerd';
  return `# Installed by ocictl containerd install
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target local-fs.target

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=${exec}

Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5

# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=infinity

# Comment TasksMax if your systemd version does not support it.
# Only systemd 226 and above support this version.
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`;
}
