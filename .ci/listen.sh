# Sourced by the .ci scripts that start servers. A server is started on port 0 and the port it got is read
# from its log, so no script races another process for a port it picked and closed.

# listened_port LOG PID: the port in the server's "listening on http://HOST:PORT" line in LOG, once it is
# there (30 s); fails when PID exits first.
listened_port() {
  local log=$1 pid=$2 port _
  for _ in $(seq 1 300); do
    port="$(sed -n 's#.*listening on http://[^/]*:\([0-9][0-9]*\).*#\1#p' "$log" 2>/dev/null | head -n 1)"
    if [[ -n $port ]]; then
      echo "$port"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# wait_port PORT PID: until something listens on 127.0.0.1:PORT (30 s); fails when PID exits first.
wait_port() {
  local _
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
