#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# nvme-guest-bench: the same fio jobs, in the same Linux guest under the
# same QEMU, against vus's nvme (samples/nvme-emu in vusd, attached with
# vfio-user-pci) and against QEMU's own in-process `-device nvme` on a
# RAM-backed file (/dev/shm) of the same size; runs alternate (vus, QEMU,
# vus, QEMU, ...) and the script prints every run, the guest nvme driver's
# complaints (timeouts, aborts, resets) if any, then vus/QEMU ratios of
# the medians of IOPS and bandwidth. A benchmark, not a test: it asserts nothing.
#
#   VUS_QEMU=/path/to/qemu-system-x86_64 bench/nvme-guest-bench.sh [ROUNDS] [SECONDS]
#
# ROUNDS (default 1) pairs of runs; SECONDS (default 5) per fio job.
# Jobs (direct I/O on the raw namespace, libaio): 128k sequential write
# (which also fills the namespace), 128k sequential read, 4k random read
# at QD1 and at QD32. Guest: docs/guests.md; results and their reading:
# docs/nvme-testing.md. Needs fio on the host (copied into the guest).
#
# Environment: VUS_NVME_BENCH_SHARED=0 runs vus with plain guest RAM
# (DMA by messages) instead of a shared memfd; VUS_NVME_BENCH_OPTS adds
# options to vusd's nvme device spec (e.g. poll=1, shadow=false, queues=2).
#
# Counts per I/O (load-independent, printed for every run): the guest's
# interrupts on its nvme vectors, all its interrupts, its context switches
# and its busy CPU time (/proc/interrupts, /proc/stat), divided by the
# I/Os the block layer completed (/proc/diskstats, ramp-up included), with
# fio's mean completion latency and usr/sys CPU. VUS_NVME_BENCH_TRACE=
# "EV1,EV2,..." also enables those QEMU trace events (patterns as in
# -trace, e.g. 'vfio_region_*,pci_nvme_mmio_doorbell_*,vfio_msi_interrupt')
# and prints each one's count per I/O and job (QEMU's "log" trace backend
# writes to the console log, between the guest's job markers).
set -euo pipefail

src=${VUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=test/helpers/guest_lib.bash
source "$src/test/helpers/guest_lib.bash"

rounds=${1:-1}
secs=${2:-5}
size_mb=64
guest_need_qemu
vusd=$GUEST_BUILD/bin/vusd
[ -x "$vusd" ] || guest_fail "$vusd is not built"
# The whole text first: grep -q would close the pipe early and, with
# pipefail, vusd's SIGPIPE would read as "no such type".
vusd_help=$("$vusd" --help 2>&1)
grep -qE '^  nvme ' <<<"$vusd_help" || guest_skip "vusd has no nvme device type"
command -v fio >/dev/null || guest_skip "fio is not installed on the host (apt-get install fio)"
guest_init

work=$(mktemp -d "$GUEST_BUILD/nvme-bench.XXXXXX")
trap 'guest_cleanup; rm -rf "$work" /dev/shm/vus-nvme-bench.$$' EXIT

root=$(guest_root_new "$work/root")
guest_add_module "$root" nvme
guest_add_binary "$root" "$(command -v fio)" /bin/fio
{
	echo "secs=$secs trace='${VUS_NVME_BENCH_TRACE:-}'"
	cat <<'EOF_GUEST'
i=0
while [ ! -b /dev/nvme0n1 ] && [ $i -lt 300 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ -b /dev/nvme0n1 ] || { echo "GUEST: FAIL no /dev/nvme0n1"; exit 1; }
# Job markers, one before and one after each job: a MARK line on the
# console (the host then reads the CPU time QEMU and vusd have used) and,
# for QEMU's trace (VUS_NVME_BENCH_TRACE), a read of the controller's
# config space at 0x2c (subsystem IDs; the driver reads it only at probe).
cfg=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/class")" = 0x010802 ] && cfg=$d/config
done
mark() {
	echo MARK
	[ -n "$cfg" ] && [ -n "$trace" ] && dd if="$cfg" bs=4 skip=11 count=1 2>/dev/null >/dev/null
	return 0
}
# The counters COUNT lines divide by I/Os: completed I/Os of nvme0n1,
# interrupts on the nvme vectors, all interrupts, context switches, busy
# and idle jiffies.
snap() {
	{
		awk '{ if ($3 == "nvme0n1") print "ios", $4 + $8 }' /proc/diskstats
		awk '/nvme/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i }
			END { print "nvmeirq", s + 0 }' /proc/interrupts
		awk '$1 == "intr" { print "intr", $2 } $1 == "ctxt" { print "ctxt", $2 }
			$1 == "cpu" { print "busy", $2 + $3 + $4 + $7 + $8; print "idle", $5 + $6 }' /proc/stat
	} | tr '\n' ' '
}
# job name, fio arguments. terse v3: field 7/8 read KiB/s and IOPS,
# 48/49 write KiB/s and IOPS, 16/57 read/write mean clat (us), 88/89 usr/sys %.
run() {
	name=$1
	shift
	mark
	a=$(snap)
	fio --name="$name" --filename=/dev/nvme0n1 --direct=1 --ioengine=libaio \
		--time_based --runtime="$secs" --ramp_time=1 --output-format=terse "$@" \
		>/tmp/out 2>/tmp/err || { cat /tmp/err; echo "GUEST: FAIL fio $name"; exit 1; }
	b=$(snap)
	mark
	awk -F';' -v n="$name" '{ printf "RESULT %s %d %d\n", n, $8 + $49, $7 + $48 }' /tmp/out
	awk -F';' -v n="$name" -v a="$a" -v b="$b" 'BEGIN {
		na = split(a, x, " "); split(b, y, " ")
		for (i = 1; i < na; i += 2) d[x[i]] = y[i + 1] - x[i + 1]
		ios = d["ios"] > 0 ? d["ios"] : 1
	} {
		printf "COUNT %s ios %d nvme-irq/io %.3f irq/io %.3f ctxsw/io %.3f busy%% %.0f clat-us %.0f fio-usr%% %.0f fio-sys%% %.0f\n",
			n, d["ios"], d["nvmeirq"] / ios, d["intr"] / ios, d["ctxt"] / ios,
			100 * d["busy"] / (d["busy"] + d["idle"] + (d["busy"] + d["idle"] == 0)),
			$16 + $57, $88, $89
	}' /tmp/out
}
run seqwrite-128k --rw=write --bs=128k --iodepth=8
run seqread-128k --rw=read --bs=128k --iodepth=8
run randread-4k-qd1 --rw=randread --bs=4k --iodepth=1
run randread-4k-qd32 --rw=randread --bs=4k --iodepth=32
# The driver's complaints (I/O timeouts, aborts, resets) explain a run
# far off the others: the console is quiet, so print them.
dmesg | grep -iE 'nvme.*(timeout|abort|reset|polled|fail)' | sed 's/^/KMSG /'
exit 0
EOF_GUEST
} | guest_script "$root"
guest_pack "$root" "$work/initrd.gz"

# cpu_sampler LOG OUT PID...: while the first PID lives, on every new
# MARK in the console LOG one line into OUT: the MARK count so far
# and each PID's CPU time (utime + stime, clock ticks).
cpu_sampler() {
	local log=$1 out=$2 seen=0 now p t
	shift 2
	while kill -0 "$1" 2>/dev/null; do
		# Anywhere in a line: a kernel message may share it.
		now=$(grep -o MARK "$log" 2>/dev/null | wc -l || true)
		if [ "${now:-0}" != "$seen" ]; then
			seen=$now t=
			for p in "$@"; do
				t="$t $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)"
			done
			echo "$seen$t" >>"$out"
		fi
		sleep 0.05
	done
}

# run_one KIND N: one boot; RESULT lines into $work/KIND-N.txt
run_one() {
	local kind=$1 n=$2 log=$work/guest-$1-$2.log rc=0 pid='' args=() opts trace=() ev spid
	if [ -n "${VUS_NVME_BENCH_TRACE:-}" ]; then
		trace=(-D "$work/trace-$kind-$n.log" -trace enable=pci_cfg_read)
		for ev in ${VUS_NVME_BENCH_TRACE//,/ }; do
			trace+=(-trace "enable=$ev")
		done
	fi
	if [ "$kind" = vus ]; then
		opts="nvme,size=${size_mb}M${VUS_NVME_BENCH_OPTS:+,$VUS_NVME_BENCH_OPTS}"
		"$vusd" --log-level err --device "$opts" --socket-path "$GUEST_SOCKS/nvme.sock" \
			>"$work/vusd-$n.log" 2>&1 &
		pid=$!
		guest_track "$pid"
		guest_wait_socket "$GUEST_SOCKS/nvme.sock" 10
		args=(--sock "$GUEST_SOCKS/nvme.sock")
		[ "${VUS_NVME_BENCH_SHARED:-1}" = 0 ] && args+=(--no-shared-ram)
		guest_start "$work/initrd.gz" "$log" "${args[@]}" -- "${trace[@]}"
	else
		truncate -s "${size_mb}M" "/dev/shm/vus-nvme-bench.$$"
		guest_start "$work/initrd.gz" "$log" -- \
			-drive "file=/dev/shm/vus-nvme-bench.$$,if=none,id=d0,format=raw,aio=threads" \
			-device nvme,serial=qemu-bench,drive=d0 "${trace[@]}"
	fi
	: >"$work/cpu-$kind-$n.txt"
	cpu_sampler "$log" "$work/cpu-$kind-$n.txt" "$GUEST_QEMU_PID" $pid &
	spid=$!
	guest_wait 600 || rc=$?
	wait "$spid" 2>/dev/null || true
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		rm -f "$GUEST_SOCKS/nvme.sock"
	fi
	rm -f "/dev/shm/vus-nvme-bench.$$"
	if [ "$rc" != 0 ]; then
		guest_show_log
		guest_fail "$kind run $n: guest result $rc"
	fi
	grep '^RESULT ' "$log" | tr -d '\r' >"$work/$kind-$n.txt"
	# Host CPU per I/O of QEMU (all its threads: the vCPU, its main loop,
	# its I/O threads) and of vusd, between a job's two marks: what the
	# host spends per guest I/O, whatever else runs on the machine.
	tr -d '\r' <"$log" | awk -v r="$kind-$n" -v hz="$(getconf CLK_TCK)" '
		FNR == NR { for (s = prev + 1; s <= $1; s++) { q[s] = $2; v[s] = $3 } prev = $1; next }
		/^COUNT / {
			k++; i = $4 ? $4 : 1
			if ((2 * k) in q)
				printf "  %-7s %s host-cpu-us/io qemu %.1f vusd %.1f\n", r, substr($0, 7),
					(q[2 * k] - q[2 * k - 1]) * 1e6 / hz / i, (v[2 * k] - v[2 * k - 1]) * 1e6 / hz / i
			else
				printf "  %-7s %s host-cpu-us/io (a mark was missed)\n", r, substr($0, 7)
		}' "$work/cpu-$kind-$n.txt" - >>"$work/counts.txt"
	# A trace line is "event args" (the log backend). A read of config
	# offset 0x2c of the controller (pci_cfg_read; the reads before the
	# last two per job are the kernel's probe)
	# opens and closes each job's span; the COUNT lines give the order
	# of the jobs and their I/Os.
	[ -z "${VUS_NVME_BENCH_TRACE:-}" ] || awk -v r="$kind-$n" -v skip=$(($(awk '$1 == "pci_cfg_read" &&
		($2 == "nvme" || $2 == "vfio-user-pci") && $4 == "@0x2c"' "$work/trace-$kind-$n.log" | wc -l) -
		2 * $(grep -c '^COUNT ' "$log"))) '
		FNR == NR { if ($1 == "COUNT") { job[++nj] = $2; ios[nj] = $4 } next }
		$1 == "pci_cfg_read" && ($2 == "nvme" || $2 == "vfio-user-pci") && $4 == "@0x2c" &&
		    ++nr > skip {
			if (on) {
				for (e in c) printf "  %-7s %-18s %-30s %8.3f /io\n", r, job[k], e, c[e] / (ios[k] ? ios[k] : 1)
				on = 0
			} else {
				k++; on = 1; split("", c)
			}
			next
		}
		on && $1 ~ /^[a-z][a-z_0-9]+$/ { c[$1]++ }
	' <(tr -d '\r' <"$log") "$work/trace-$kind-$n.log" | sort -k2,2 -k3,3 >>"$work/counts.txt"
	grep '^KMSG ' "$log" | tr -d '\r' | sed "s/^KMSG /  $kind-$n guest kernel: /" >>"$work/kmsg.txt" || true
}

for ((n = 1; n <= rounds; n++)); do
	run_one vus "$n"
	run_one qemu "$n"
done

# Every run, so the spread between rounds shows; then means and ratios.
for f in "$work"/vus-*.txt "$work"/qemu-*.txt; do
	n=${f##*/}
	awk -v r="${n%.txt}" '{ printf "  run %-7s %-18s %8d IOPS %10d KiB/s\n", r, $2, $3, $4 }' "$f"
done
[ -s "$work/kmsg.txt" ] && cat "$work/kmsg.txt"
echo "counts per I/O (guest block-layer I/Os, ramp-up included):"
cat "$work/counts.txt"
# Medians over the rounds (a loaded machine throws single runs far off;
# the median of 3+ rounds ignores one), then the ratios.
median() {
	awk '{ print $2, $3, $4 }' | sort -k1,1 -k2,2n | awk '
		{ job[NR] = $1; iops[NR] = $2; bw[NR] = $3 }
		END {
			i = 1
			while (i <= NR) {
				j = i
				while (j <= NR && job[j] == job[i]) j++
				n = j - i
				m = i + int((n - 1) / 2)
				# bandwidth: its own median
				split("", b); k = 0
				for (x = i; x < j; x++) b[++k] = bw[x]
				for (x = 1; x <= k; x++) for (y = x + 1; y <= k; y++) if (b[y] < b[x]) { t = b[x]; b[x] = b[y]; b[y] = t }
				print job[i], iops[m], b[1 + int((k - 1) / 2)]
				i = j
			}
		}'
}
cat "$work"/vus-*.txt | median >"$work/vus.txt"
cat "$work"/qemu-*.txt | median >"$work/qemu.txt"
echo "nvme-guest-bench: $rounds round(s), ${secs}s per job, TCG guest, ${size_mb} MiB namespace; medians"
printf '%-18s %10s %10s %8s %12s %12s %8s\n' job "vus IOPS" "QEMU IOPS" ratio "vus KiB/s" "QEMU KiB/s" ratio
join "$work/vus.txt" "$work/qemu.txt" | awk '{
	printf "%-18s %10.0f %10.0f %8.2f %12.0f %12.0f %8.2f\n", $1, $2, $4, $4 ? $2 / $4 : 0, $3, $5, $5 ? $3 / $5 : 0
}'
