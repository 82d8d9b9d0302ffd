# tables.awk - turns bench_ws's key=value result lines into the Markdown
# tables of bench/ws/RESULTS.md (called by bench/ws/run with -v rate=,
# window=, items=, have_pw=, have_node=). One row per scenario, the Node
# hub and patchwire side by side, the issue's targets checked.

function si(x) {
    if (x == "" || x == "na") return "-"
    x += 0
    if (x >= 1e6) return sprintf("%.3g M", x / 1e6)
    if (x >= 1e4) return sprintf("%.0f k", x / 1e3)
    if (x >= 1e3) return sprintf("%.3g k", x / 1e3)
    return sprintf("%.3g", x)
}
# numbers compare as numbers, the rest as text
function num(s) { return s ~ /^-?[0-9]+(\.[0-9]+)?$/ ? s + 0 : s }
function ms(us) { return sprintf("%.2f", us / 1000) }
function key(label, mode, codec, readers, it) { return label "|" mode "|" codec "|" readers "|" it }
function has(k) { return (k SUBSEP "status") in v }
function get(k, f) { return ((k, f) in v) ? v[k, f] : "" }
function ok(k) { return get(k, "status") == "ok" }
# server CPU time per delivered message, in µs: independent of how fast the generator reads
function us_per_msg(k) {
    if (get(k, "server_cpu_pct") == "na" || get(k, "delivered_per_s") + 0 == 0) return "-"
    return sprintf("%.2f", get(k, "server_cpu_pct") / 100 / get(k, "delivered_per_s") * 1e6)
}
function flags(k,    s) {
    s = ""
    if (get(k, "gen_cpu_pct") + 0 >= 90) s = s " (gen-bound)"
    if (get(k, "writer_fullsyncs") + 0 > 0) s = s " (writer resynced)"
    if (get(k, "missed") + get(k, "bad") + get(k, "extra_fullsyncs") + get(k, "errors") + get(k, "undrained") > 0)
        s = s " (see checks)"
    return s
}
function cell_tp(k) {
    if (!has(k)) return "not run"
    if (!ok(k)) return "failed: " get(k, "reason")
    return si(get(k, "delivered_per_s")) "/s, " sprintf("%.0f", get(k, "server_cpu_pct")) "% CPU, " us_per_msg(k) " µs/msg" flags(k)
}
function cell_in(k, base) {
    if (!has(k)) return "not run"
    if (!ok(k)) return "failed: " get(k, "reason")
    return si(get(k, "sent_per_s")) "/s, " sprintf("%.0f", get(k, "server_cpu_pct")) "% CPU" flags(k)
}
function flat(k, base) {
    if (!ok(k) || !ok(base) || get(base, "sent_per_s") <= 0) return ""
    return "flat: " (get(k, "sent_per_s") >= 0.8 * get(base, "sent_per_s") ? "**met**" : "**missed**") sprintf(" (%.2fx 10 items)", get(k, "sent_per_s") / get(base, "sent_per_s"))
}
function saturated(k) {
    return get(k, "delivered_per_s") < 0.95 * get(k, "rate") * get(k, "readers") || get(k, "undrained") > 0
}
function cell_lat(k,    s) {
    if (!has(k)) return "not run"
    if (!ok(k)) return "failed: " get(k, "reason")
    s = ms(get(k, "p50_us")) " / " ms(get(k, "p99_us")) " / " ms(get(k, "max_us"))
    if (saturated(k)) s = s " (saturated: " si(get(k, "delivered_per_s")) "/s delivered of " si(get(k, "rate") * get(k, "readers")) "/s offered)"
    return s flags(k)
}

{
    delete f
    for (i = 1; i <= NF; i++) {
        eq = index($i, "=")
        if (eq) f[substr($i, 1, eq - 1)] = num(substr($i, eq + 1))
    }
    k = key(f["label"], f["mode"], f["codec"], f["readers"], f["items"])
    if (f["mode"] == "idle") k = key(f["label"], "idle", "", "", "")
    for (name in f) v[k, name] = f[name]
    v[k, "status"] = f["status"]
    lines[++nlines] = $0
}

END {
    print "## Fan-out: delivered messages per second at saturation"
    print ""
    print "One writer, " window " messages in flight at most (until every reader has one), state of " items " items. Each cell: delivered messages/s, the server's CPU over the interval (100% = one core), and server CPU time per delivered message. *gen-bound*: the load generator used over 90% of a core, so the figure is a floor for the server. *writer resynced*: the hub sent the plain (Visly State) writer FullSyncs (see Checks); the last column is the same run with a writer that sends `base` and reads acks, as a patchwire replica does."
    print ""
    print "| Readers | Codec | Node hub | patchwire serve | patchwire / Node, delivered | Node / patchwire, server CPU per message | Generator CPU (Node / patchwire run) | Target | patchwire serve, writer with base |"
    print "|--:|---|---|---|--:|--:|---|---|---|"
    split("json msgpack", codecs, " ")
    for (c = 1; c <= 2; c++) {
        codec = codecs[c]
        for (r = 10; r <= 1000; r *= 10) {
            kn = key("node", "throughput", "json", r, items)
            kp = key("patchwire", "throughput", codec, r, items)
            node = codec == "json" ? cell_tp(kn) : "n/a (JSON only)"
            ratio = "-"
            if (ok(kn) && ok(kp) && get(kn, "delivered_per_s") > 0)
                ratio = sprintf("%.1fx", get(kp, "delivered_per_s") / get(kn, "delivered_per_s")) (codec == "msgpack" ? " (vs Node JSON)" : "")
            eff = "-"
            if (ok(kn) && ok(kp) && us_per_msg(kn) != "-" && us_per_msg(kp) != "-" && us_per_msg(kp) > 0)
                eff = sprintf("%.1fx", us_per_msg(kn) / us_per_msg(kp))
            gen = (ok(kn) && codec == "json" ? sprintf("%.0f%%", get(kn, "gen_cpu_pct")) : "-") " / " (ok(kp) ? sprintf("%.0f%%", get(kp, "gen_cpu_pct")) : "-")
            target = ""
            if (r == 1000 && codec == "json") {
                target = "≥ 10x Node: "
                if (ratio == "-") target = target "not measured"
                else target = target ((get(kp, "delivered_per_s") >= 10 * get(kn, "delivered_per_s")) ? "**met**" : "**missed**")
            }
            print "| " r " | " (codec == "json" ? "JSON" : "MessagePack") " | " node " | " (have_pw ? cell_tp(kp) : "not available") " | " ratio " | " eff " | " gen " | " target " | " cell_tp(key("patchwire-base", "throughput", codec, r, items)) " |"
        }
    }

    print ""
    print "## End-to-end latency at " rate " messages/s offered"
    print ""
    print "Writer to reader, both in the load generator (one CLOCK_MONOTONIC), state of " items " items; p50 / p99 / max in ms over every delivery of every message sent in the measured interval. *saturated*: the server could not deliver what was offered, so latency grows with the run's length and only delivered messages are counted."
    print ""
    print "| Readers | Codec | Node hub p50 / p99 / max (ms) | patchwire serve p50 / p99 / max (ms) | p99 patchwire / Node | Target |"
    print "|--:|---|---|---|--:|---|"
    for (c = 1; c <= 2; c++) {
        codec = codecs[c]
        for (r = 10; r <= 1000; r *= 10) {
            kn = key("node", "latency", "json", r, items)
            kp = key("patchwire", "latency", codec, r, items)
            node = codec == "json" ? cell_lat(kn) : "n/a (JSON only)"
            ratio = "-"
            if (ok(kn) && ok(kp) && get(kn, "p99_us") > 0)
                ratio = sprintf("%.3g", get(kp, "p99_us") / get(kn, "p99_us")) (codec == "msgpack" ? " (vs Node JSON)" : "")
            target = ""
            if (r == 100 && codec == "json") {
                target = "p99 ≤ 1/5 of Node's: "
                if (ratio == "-") target = target "not measured"
                else target = target ((get(kp, "p99_us") * 5 <= get(kn, "p99_us")) ? "**met**" : "**missed**")
            }
            print "| " r " | " (codec == "json" ? "JSON" : "MessagePack") " | " node " | " (have_pw ? cell_lat(kp) : "not available") " | " ratio " | " target " |"
        }
    }

    print ""
    print "## Server memory per idle connection"
    print ""
    print "Server VmRSS (/proc/PID/status) with 1 idle connection and with N, each having received its FullSync of the " items "-item state; per connection = (RSS(N) - RSS(1)) / (N - 1). Kernel socket buffers are not in RSS."
    print ""
    print "| Server | Connections | VmRSS, 1 connection | VmRSS, N connections | Per idle connection | Target |"
    print "|---|--:|--:|--:|--:|---|"
    split("node patchwire", servers, " ")
    for (s = 1; s <= 2; s++) {
        k = key(servers[s], "idle", "", "", "")
        name = servers[s] == "node" ? "Node hub" : "patchwire serve"
        target = servers[s] == "patchwire" ? "≤ 3 KB: " : ""
        if (!has(k)) { print "| " name " | - | - | - | not run | " target " |"; continue }
        if (!ok(k)) { print "| " name " | - | - | - | failed: " get(k, "reason") " | " target " |"; continue }
        per = get(k, "bytes_per_conn")
        if (target != "") target = target (per <= 3072 ? "**met**" : "**missed**")
        print "| " name " | " get(k, "conns") " | " sprintf("%.1f MB", get(k, "rss1_kb") * 1024 / 1e6) " | " sprintf("%.1f MB", get(k, "rssn_kb") * 1024 / 1e6) " | " sprintf("%.2f KB", per / 1024) " | " target " |"
    }

    print ""
    print "## Throughput as the state grows"
    print ""
    print "One writer, 2 readers, JSON, " window " messages in flight at most; the state is a todo list of N items and the writer replaces items[i].done, i cycling over all of them. Incoming messages/s = the writer's changes the server applied and relayed to both readers. *Flat* = at least 0.8x the 10-item figure (the runs are noisy). The writer is a plain (Visly State) peer; the last column is the same run with a writer that sends `base` and reads acks, as a patchwire replica does. *writer resynced*: the hub sent the plain writer FullSyncs of the whole state (count and bytes in the raw results)."
    print ""
    print "| Items | Node hub incoming msg/s | patchwire serve incoming msg/s | patchwire / Node | Target | patchwire serve, writer with base |"
    print "|--:|---|---|--:|---|---|"
    split("10 1000 20000 100000", sizes, " ")
    base = key("patchwire", "throughput", "json", 2, 10)
    baseb = key("patchwire-base", "throughput", "json", 2, 10)
    for (s = 1; s <= 4; s++) {
        n = sizes[s]
        kn = key("node", "throughput", "json", 2, n)
        kp = key("patchwire", "throughput", "json", 2, n)
        kb = key("patchwire-base", "throughput", "json", 2, n)
        ratio = ok(kn) && ok(kp) && get(kn, "sent_per_s") > 0 ? sprintf("%.1fx", get(kp, "sent_per_s") / get(kn, "sent_per_s")) : "-"
        print "| " n " | " cell_in(kn, "") " | " cell_in(kp, base) " | " ratio " | " (n == 10 ? "" : flat(kp, base)) " | " cell_in(kb, baseb) (n == 10 ? "" : "; " flat(kb, baseb)) " |"
    }

    print ""
    print "## Checks"
    print ""
    bad = 0
    for (i = 1; i <= nlines; i++) {
        delete f
        nf = split(lines[i], parts, " ")
        for (j = 1; j <= nf; j++) { eq = index(parts[j], "="); if (eq) f[substr(parts[j], 1, eq - 1)] = num(substr(parts[j], eq + 1)) }
        what = f["label"] " " f["mode"] " " f["codec"] (f["readers"] != "" ? " " f["readers"] " readers" : "") (f["items"] != "" ? ", " f["items"] " items" : "")
        if (f["status"] != "ok") { print "- " what ": **failed** (" f["reason"] ")"; bad++; continue }
        if (f["writer_fullsyncs"] > 0) {
            print "- " what ": the hub sent the plain writer " f["writer_fullsyncs"] " FullSyncs (" sprintf("%.1f MB", f["writer_fullsync_bytes"] / 1e6) ") for " sprintf("%.0f", f["sent_per_s"] * f["duration_s"]) " messages measured (resyncs of a plain peer, proto/SPEC.md 1.2)"
            bad++
        }
        n = f["missed"] + f["bad"] + f["extra_fullsyncs"] + f["errors"] + f["undrained"]
        if (n > 0) {
            print "- " what ": missed " f["missed"] ", unexpected " f["bad"] ", extra FullSyncs " f["extra_fullsyncs"] ", errors " f["errors"] ", still in flight after 10 s " f["undrained"]
            bad++
        }
    }
    if (!bad) print "- Every reader received every message, in order, as the expected patch; no errors, no extra FullSync; nothing left in flight."
}
