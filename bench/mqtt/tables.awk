# tables.awk - bench_mqtt's result lines (key=value) into the Markdown table
# of bench/mqtt/RESULTS.md: each patchwire row beside the raw ceiling of the
# same direction, codec, QoS and subscribers, and the issue's target.
function ms(us) { return sprintf("%.2f", us / 1000) }
function fmt(n) { n += 0; return n >= 10000 ? sprintf("%.1f k", n / 1000) : sprintf("%.0f", n) }
{
    delete f
    for (i = 1; i <= NF; i++) {
        eq = index($i, "=")
        if (eq) f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
    }
    if (f["status"] != "ok") { failed[++nfailed] = $0; next }
    dir = f["label"] == "raw-d2w" ? "d2w" : f["label"] == "raw-w2d" ? "w2d" : f["mode"]
    side = f["label"] == "patchwire" ? "pw" : "raw"
    k = dir SUBSEP f["codec"] SUBSEP f["qos"] SUBSEP f["subs"]
    rate[k] = f["rate"]
    per_s[side, k] = f["delivered_per_s"]; p50[side, k] = f["p50_us"]; p99[side, k] = f["p99_us"]
    bytes[side, k] = side == "pw" ? f["rx_bytes"] : f["payload"]
    note = ""
    if (f["missing"] > 0) note = note " " f["missing"] " missing"
    if (f["disorder"] > 0) note = note " " f["disorder"] " out of order"
    if (f["extra_fullsyncs"] > 0) note = note " " f["extra_fullsyncs"] " extra FullSyncs"
    if (f["errors"] > 0 || f["bad"] > 0) note = note " " f["errors"] + f["bad"] " errors/unexpected"
    if (f["saturated"] == 1) note = note " saturated"
    notes[side, k] = note
}
END {
    print "## Through one mosquitto: patchwire against the raw ceiling"
    print ""
    print "Device to web (*d2w*): an MQTT device (paho) publishes edits on `patchwire/appstate/edit`, the hub relays them to N WebSocket readers of `patchwire serve`. Web to device (*w2d*): a WebSocket writer, the hub publishes on `patchwire/appstate/patches` to N MQTT subscribers (paho). *Raw*: a paho publisher, mosquitto and N paho subscribers, same payload size, QoS and offered rate, no patchwire. Each cell: patchwire / raw. Target (issue 8): delivered ≥ 80% of raw and p99 ≤ 1.5x raw."
    print ""
    print "| Direction | Codec | QoS | Subscribers | Offered msg/s | Payload B (pw / raw) | Delivered msg/s | Delivered vs raw | p50 ms | p99 ms | p99 vs raw | Target | Notes |"
    print "|---|---|--:|--:|--:|---|---|--:|---|---|--:|---|---|"
    ndirs = split("d2w w2d", dirs, " "); ncodecs = split("json msgpack", codecs, " ")
    nqos = split("0 1", qoss, " "); nsubs = split("1 10 100", subss, " ")
    for (a = 1; a <= ndirs; a++) for (b = 1; b <= ncodecs; b++) for (c = 1; c <= nqos; c++) for (d = 1; d <= nsubs; d++) {
        k = dirs[a] SUBSEP codecs[b] SUBSEP qoss[c] SUBSEP subss[d]
        if (!(k in rate)) continue
        have = (("pw", k) in per_s) && (("raw", k) in per_s)
        rows++
        if (have) {
            dr = per_s["raw", k] > 0 ? per_s["pw", k] / per_s["raw", k] : 0
            pr = p99["raw", k] > 0 ? p99["pw", k] / p99["raw", k] : 0
            ok = dr >= 0.8 && pr <= 1.5
            met += ok; dmet += dr >= 0.8; pmet += pr <= 1.5
            target = ok ? "met" : "**missed**"
            cells = sprintf("%s / %s | %s / %s | %.2f | %s / %s | %s / %s | %.2f | %s", bytes["pw", k], bytes["raw", k],
                fmt(per_s["pw", k]), fmt(per_s["raw", k]), dr, ms(p50["pw", k]), ms(p50["raw", k]),
                ms(p99["pw", k]), ms(p99["raw", k]), pr, target)
        } else {
            cells = "n/a | n/a | | n/a | n/a | | no result"
        }
        n = notes["pw", k] (notes["raw", k] != "" ? " (raw:" notes["raw", k] ")" : "")
        printf "| %s | %s | %s | %s | %s | %s | %s |\n", dirs[a] == "d2w" ? "device → web" : "web → device",
            codecs[b] == "json" ? "JSON" : "MessagePack", qoss[c], subss[d], rate[k], cells, n
    }
    print ""
    printf "Target met in %d of %d rows: delivered ≥ 80%% of raw in %d, p99 ≤ 1.5x raw in %d.\n", met, rows, dmet, pmet
    if (nfailed) {
        print ""
        print "Failed runs:"
        for (i = 1; i <= nfailed; i++) print "- `" failed[i] "`"
    }
}
