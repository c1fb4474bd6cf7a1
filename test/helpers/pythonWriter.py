# A Python writer for test/mixedFleet.test.ts: prometheus_client in multiprocess mode (the
# directory from PROMETHEUS_MULTIPROC_DIR), like a gunicorn worker. It holds no lock. Says
# "ready" once its counter's file exists; on each stdin line "inc <n>" increments the counter
# (the value is in the file when it answers "ok <total>"); exits when stdin closes.
import sys

from prometheus_client import Counter

requests = Counter('mixed_requests', 'Requests served.')
print('ready', flush=True)
total = 0
for line in sys.stdin:
    amount = int(line.split()[1])
    requests.inc(amount)
    total += amount
    print(f'ok {total}', flush=True)
