#!/bin/sh
# The report page end to end: a synthetic archive (data_archive.py: ndt7 and
# responsiveness1 records with ServerSummary, over three days), then
# `netpulse-data report`, then the page in headless Chromium from file://
# (browser_report.mjs). Usage: data_report.sh NETPULSE_DATA NODE OUTDIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/np-data-report.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 "$here/data_archive.py" "$work/archive" --ndt7 200 --rpm 60 --variants 200
mkdir -p "$3"
"$1" report "$work/archive" > "$3/report.html"
"$2" "$here/browser_report.mjs" --report "$3/report.html" --out "$3" --groups 4
