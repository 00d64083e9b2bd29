#!/usr/bin/env python3
# loop-stalls.py LOOP_TID SERVER_PID < perf script -F comm,pid,tid,cpu,time,event,trace,ip,sym
# (see loop-stalls.sh). The loop thread's stalls of MIN_MS (default 1) or more:
#   A  runnable waits: woken or preempted, not yet running again; who ran on its CPU meanwhile.
#   B  iterations: io_uring_enter's return to the next call, with the loop's on-CPU part of it, its
#      page faults, and (with CPU samples) what ran on it.
#   C  on-CPU time inside io_uring_enter (the deferred receive work).
#   D  blocked in the kernel (D state).
# Each listed with any fdatasync overlapping it; counts are also given per second of the trace.
import collections, os, re, sys

L, P = sys.argv[1], sys.argv[2]
MIN = float(os.environ.get('MIN_MS', '1'))
CPU = int(os.environ.get('CPU', '0'))
SHOW = int(os.environ.get('SHOW', '8'))
hdr = re.compile(r'^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$')
field = re.compile(r'(\w+)=(\S+)')
names, syncs, open_sync, samples, server_tids = {}, [], {}, [], set()
A, B, C, D = [], [], [], []
state, blocked_since, on_since = 'S', None, None
runnable_since, ran, last_switch, occupant = None, collections.Counter(), None, None
in_sys, sys_enter, sys_on = False, None, 0.0
it_start, it_on, it_faults, it_off = None, 0.0, 0, collections.Counter()
first = last = None
stack = None

def account_on(t0, t1):
    global sys_on, it_on
    if in_sys: sys_on += t1 - t0
    elif it_start is not None: it_on += t1 - t0

for line in sys.stdin:
    m = hdr.match(line)
    if not m:
        if stack is not None and line.strip():
            parts = line.split(None, 1)
            if len(parts) == 2: stack.append(parts[1].strip().split(' (')[0].split('+0x')[0])
        continue
    stack = None
    pid, tid, cpu, t, ev, tr = m.group(2), m.group(3), int(m.group(4)), float(m.group(5)), m.group(6), m.group(7)
    first = t if first is None else first
    last = t
    if pid == P: server_tids.add(tid)
    if ev.startswith('cpu-clock'):
        stack = []
        samples.append((t, tid, stack))
    elif ev == 'sched:sched_switch':
        f = dict(field.findall(tr))
        prev, nxt = f.get('prev_pid'), f.get('next_pid')
        names[prev], names[nxt] = f.get('prev_comm'), f.get('next_comm')
        if cpu == CPU:
            if occupant not in (None, L) and last_switch is not None:
                if runnable_since is not None: ran[occupant] += t - max(last_switch, runnable_since)
                if it_start is not None and not in_sys: it_off[occupant] += t - max(last_switch, it_start)
            occupant, last_switch = nxt, t
        if prev == L:
            if on_since is not None: account_on(on_since, t)
            on_since = None
            st = f.get('prev_state', 'S')
            if st.startswith('R'): runnable_since, ran = t, collections.Counter()
            elif st.startswith('D'): state, blocked_since = 'D', t
            else: state = 'S'
        if nxt == L:
            if runnable_since is not None:
                w = (t - runnable_since) * 1000
                if w >= MIN: A.append((runnable_since, w, ran.most_common(3)))
                runnable_since = None
            on_since = t
    elif ev in ('sched:sched_waking', 'sched:sched_wakeup'):
        f = dict(field.findall(tr))
        if f.get('pid') == L and runnable_since is None and on_since is None:
            if state == 'D' and blocked_since is not None:
                d = (t - blocked_since) * 1000
                if d >= MIN / 10: D.append((blocked_since, d))
            state, runnable_since, ran = 'R', t, collections.Counter()
    elif ev == 'syscalls:sys_enter_io_uring_enter' and tid == L:
        if on_since is not None: account_on(on_since, t); on_since = t
        if it_start is not None and (t - it_start) * 1000 >= MIN:
            B.append((it_start, (t - it_start) * 1000, it_on * 1000, it_faults, it_off.most_common(3)))
        in_sys, sys_enter, sys_on = True, t, 0.0
    elif ev == 'syscalls:sys_exit_io_uring_enter' and tid == L:
        if on_since is not None: account_on(on_since, t); on_since = t
        if in_sys and sys_on * 1000 >= MIN: C.append((sys_enter, sys_on * 1000, (t - sys_enter) * 1000))
        in_sys, it_start, it_on, it_faults, it_off = False, t, 0.0, 0, collections.Counter()
    elif ev == 'exceptions:page_fault_user' and tid == L:
        it_faults += 1
    elif ev == 'ext4:ext4_sync_file_enter':
        open_sync[tid] = t
    elif ev == 'ext4:ext4_sync_file_exit' and tid in open_sync:
        syncs.append((open_sync.pop(tid), t, tid, pid))

span = (last - first) if first else 1.0
nm = lambda k: f"{names.get(k, '?')}/{k}"

def near(t0, ms):
    t1 = t0 + ms / 1000
    hits = [f"fdatasync by {nm(tid)}{'' if pid == P else ' (another process)'} at {a - t0:+.4f} s, {1000 * (b - a):.1f} ms"
            for a, b, tid, pid in syncs if a <= t1 + 0.002 and b >= t0 - 0.002]
    return f"   [{'; '.join(hits[:2])}]" if hits else ""

def summary(label, values):
    n = [sum(1 for v in values if v >= k) for k in (1, 2, 5, 10)]
    print(f"{label}: >=1 ms {n[0]} ({n[0] / span:.2f}/s), >=2 ms {n[1]} ({n[1] / span:.2f}/s), >=5 ms {n[2]}, >=10 ms {n[3]}; "
          f"max {max(values, default=0):.2f} ms, total {sum(values):.1f} ms")

def profile(tid, t0, ms):
    c = collections.Counter(' < '.join(s[:4]) for t, st, s in samples if st == tid and t0 <= t <= t0 + ms / 1000 and s)
    return "; ".join(f"{k} x{v}" for k, v in c.most_common(3))

print(f"trace of {span:.2f} s; fdatasyncs by the server {sum(1 for s in syncs if s[3] == P)}, by others {sum(1 for s in syncs if s[3] != P)}")
summary("A runnable waits", [x[1] for x in A])
summary("B iterations, wall", [x[1] for x in B])
summary("B iterations, on-CPU", [x[2] for x in B])
summary("C on-CPU inside io_uring_enter", [x[1] for x in C])
summary("D blocked", [x[1] for x in D])
led, total = collections.Counter(), collections.Counter()
for _, _, top in A:
    for k, v in top: total[k] += v
    if top: led[top[0][0]] += 1
print("who ran while the loop waited (ms; waits where it ran most): "
      + ", ".join(f"{nm(k)} {v * 1000:.1f} ({led[k]})" for k, v in total.most_common(8)))
own = lambda top: top and top[0][0] in server_tids
print("waits led by the server's own threads: " + str(sum(1 for _, _, top in A if own(top))))
for t0, w, top in sorted((a for a in A if own(a[2])), key=lambda x: -x[1])[:SHOW]:
    print(f"  A {t0 - first:8.4f} s waited {w:6.2f} ms: " + ", ".join(f"{nm(k)} {v * 1000:.2f}" for k, v in top) + near(t0, w))
for t0, w, top in sorted(A, key=lambda x: -x[1])[:SHOW]:
    print(f"  A {t0 - first:8.4f} s waited {w:6.2f} ms: " + ", ".join(f"{nm(k)} {v * 1000:.2f}" for k, v in top) + near(t0, w))
for t0, w, on, faults, top in sorted(B, key=lambda x: -x[2])[:SHOW]:
    print(f"  B {t0 - first:8.4f} s iteration {w:6.2f} ms, on-CPU {on:6.2f} ms, {faults} faults" + near(t0, w)
          + (f"\n      on CPU: {profile(L, t0, w)}" if samples else ""))
for t0, on, w in sorted(C, key=lambda x: -x[1])[:SHOW]:
    print(f"  C {t0 - first:8.4f} s in io_uring_enter {on:6.2f} ms on CPU (wall {w:.2f})" + near(t0, w))
for t0, d in sorted(D, key=lambda x: -x[1])[:SHOW]:
    print(f"  D {t0 - first:8.4f} s blocked {d:6.2f} ms" + near(t0, d))
