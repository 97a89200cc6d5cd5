"""The RPM cases of the accuracy lab (rpm_lab.py): `netpulse rpm` through
the lab with a 1 MB and a 30 KB bfifo."""

import subprocess


def client_has_rpm(client_bin):
    """True when the netpulse CLI has the rpm subcommand."""
    try:
        p = subprocess.run([client_bin, "rpm", "--help"], capture_output=True, text=True,
                           timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return p.returncode == 0 and "rpm" in p.stdout.lower()


def run(lab, rep, label):
    raise NotImplementedError("RPM cases land with the client")


def compare(rep, big, small):
    raise NotImplementedError("RPM cases land with the client")
