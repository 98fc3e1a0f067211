// The operator's monthly report page: asks for the operator key (kept in sessionStorage only), fetches
// /v1/reports/monthly, draws the charts with ECharts and fills the table. Every value from the API goes
// into the page as text (textContent), never as HTML.
(function () {
  'use strict';

  var KEY_STORAGE = 'rxflow.operatorKey';
  var FONT = '"WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  var GROUP_LABEL = { hospital: '医院 (Hospital)', pharmacy: '药店 (Pharmacy)', region: '地区 (Region)' };

  var $ = function (id) { return document.getElementById(id); };
  var form = $('report-form'), keyInput = $('api-key'), monthInput = $('month'), bySelect = $('by');
  var statusEl = $('status'), tbody = document.querySelector('#report-table tbody'), downloadBtn = $('download-csv');
  var charts = { counts: null, value: null };
  var current = null; // { month, by } of the report on screen

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.className = isError ? 'error' : '';
  }

  // This month in Asia/Shanghai time, as YYYY-MM.
  function thisMonth() {
    var parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit' }).formatToParts(new Date());
    var y = parts.find(function (p) { return p.type === 'year'; }).value;
    var m = parts.find(function (p) { return p.type === 'month'; }).value;
    return y + '-' + m;
  }

  function storedKey() { try { return sessionStorage.getItem(KEY_STORAGE) || ''; } catch (e) { return ''; } }
  function storeKey(k) { try { if (k) sessionStorage.setItem(KEY_STORAGE, k); else sessionStorage.removeItem(KEY_STORAGE); } catch (e) { /* storage disabled */ } }

  function reportUrl(month, by, format) {
    var q = new URLSearchParams({ month: month, by: by });
    if (format) q.set('format', format);
    return '/v1/reports/monthly?' + q.toString();
  }

  async function apiFetch(url, key) {
    var res = await fetch(url, { headers: { Authorization: 'Bearer ' + key }, cache: 'no-store' });
    if (res.ok) return res;
    var message = 'HTTP ' + res.status;
    try { var body = await res.json(); if (body && body.error) message = body.error.code + ': ' + body.error.message; } catch (e) { /* not JSON */ }
    if (res.status === 401) message = '密钥无效 (Invalid API key) — ' + message;
    if (res.status === 403) message = '需要运营角色 (Operator role required) — ' + message;
    var err = new Error(message);
    err.status = res.status;
    throw err;
  }

  // ---- formatting ---------------------------------------------------------------------------------
  var dash = '—';
  function yuan(fen) { return fen == null ? dash : '¥' + (fen / 100).toFixed(2); }
  function pct(r) { return r == null ? dash : (r * 100).toFixed(1) + '%'; }
  function plain(n) { return n == null ? dash : String(n); }
  function duration(s) {
    if (s == null) return dash;
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h) return h + 'h ' + m + 'm';
    if (m) return m + 'm ' + sec + 's';
    return sec + 's';
  }
  function pair(a, b, f) { return (a == null && b == null) ? dash : f(a) + ' / ' + f(b); }
  function label(row) { return row.name || row.key; }

  // ---- table ----------------------------------------------------------------------------------------
  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function renderTable(rows) {
    tbody.replaceChildren();
    if (!rows.length) {
      var tr = document.createElement('tr');
      var td = cell(tr, '本月无数据 (No data for this month)', 'empty');
      td.colSpan = 15;
      tbody.appendChild(tr);
      return;
    }
    rows.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.dataset.key = r.key;
      cell(tr, r.key);
      cell(tr, r.name || dash, 'name');
      cell(tr, r.regionCode || dash);
      cell(tr, plain(r.issued), 'num issued');
      cell(tr, plain(r.approved), 'num approved');
      cell(tr, plain(r.rejected), 'num rejected');
      cell(tr, r.rejectedByReason.length ? r.rejectedByReason.map(function (x) { return x.reason + ' ×' + x.count; }).join('；') : dash, 'reasons');
      cell(tr, plain(r.avgDrugsPerPrescription), 'num');
      cell(tr, yuan(r.avgValueFen), 'num avg-value');
      cell(tr, pct(r.insurerShare), 'num');
      cell(tr, pair(r.reviewSecondsP50, r.reviewSecondsP90, duration), 'num');
      cell(tr, pair(r.deliverySecondsP50, r.deliverySecondsP90, duration), 'num');
      cell(tr, r.offersAnswered ? pct(r.pharmacyAcceptanceRate) + ' (' + r.offersAccepted + '/' + r.offersAnswered + ')' : dash, 'num');
      cell(tr, r.followUps ? pct(r.followUpCompletionRate) + ' (' + r.followUpsSent + '/' + r.followUps + ')' : dash, 'num');
      cell(tr, plain(r.adverseReactions), 'num');
      tbody.appendChild(tr);
    });
  }

  // ---- charts ---------------------------------------------------------------------------------------
  function chart(name, el, height) {
    el.style.height = height + 'px';
    if (!charts[name]) charts[name] = window.echarts.init(el, null, { renderer: 'canvas' });
    else charts[name].resize();
    return charts[name];
  }

  // Horizontal bars: long Chinese names stay readable; the busiest group is on top.
  function baseOption(rows, valueFormatter, integer) {
    return {
      textStyle: { fontFamily: FONT },
      animation: false,
      grid: { left: 8, right: 48, top: 36, bottom: 8, containLabel: true },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: valueFormatter },
      yAxis: {
        type: 'category', inverse: true, data: rows.map(label),
        axisLabel: { width: 220, overflow: 'truncate', fontFamily: FONT },
      },
      xAxis: { type: 'value', minInterval: integer ? 1 : 0, axisLabel: { fontFamily: FONT, formatter: valueFormatter } },
    };
  }

  function renderCharts(rows) {
    var height = Math.max(240, rows.length * (rows.length > 10 ? 36 : 56) + 80);
    var counts = baseOption(rows, undefined, true);
    counts.legend = { top: 0, textStyle: { fontFamily: FONT } };
    counts.color = ['#2f6fde', '#2e9d5b', '#d64545'];
    counts.series = [
      { name: '开方 (Issued)', type: 'bar', data: rows.map(function (r) { return r.issued; }), label: { show: true, position: 'right' } },
      { name: '通过 (Approved)', type: 'bar', data: rows.map(function (r) { return r.approved; }), label: { show: true, position: 'right' } },
      { name: '驳回 (Rejected)', type: 'bar', data: rows.map(function (r) { return r.rejected; }), label: { show: true, position: 'right' } },
    ];
    chart('counts', $('chart-counts'), height).setOption(counts, true);

    var money = function (v) { return v == null ? dash : '¥' + (v / 100).toFixed(0); };
    var value = baseOption(rows, money);
    value.legend = { top: 0, textStyle: { fontFamily: FONT } };
    value.color = ['#8e5bd6'];
    value.series = [{
      name: '平均金额 (Average value)', type: 'bar',
      data: rows.map(function (r) { return r.avgValueFen; }),
      label: { show: true, position: 'right', formatter: function (p) { return yuan(p.value); } },
    }];
    chart('value', $('chart-value'), height).setOption(value, true);
  }

  // ---- actions --------------------------------------------------------------------------------------
  async function load() {
    var key = keyInput.value.trim(), month = monthInput.value, by = bySelect.value;
    if (!key) { setStatus('请输入运营密钥 (Enter the operator API key)', true); return; }
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) { setStatus('请选择月份 (Choose a month)', true); return; }
    storeKey(key);
    history.replaceState(null, '', '?' + new URLSearchParams({ month: month, by: by }).toString());
    setStatus('加载中… (Loading…)');
    downloadBtn.disabled = true;
    try {
      var report = await (await apiFetch(reportUrl(month, by), key)).json();
      current = { month: report.month, by: report.by };
      renderCharts(report.rows);
      renderTable(report.rows);
      downloadBtn.disabled = false;
      setStatus(report.month + ' · 按' + GROUP_LABEL[report.by] + ' · ' + report.rows.length + ' 行 (rows)');
    } catch (e) {
      current = null;
      renderTable([]);
      setStatus('加载失败 (Failed to load): ' + e.message, true);
    }
  }

  // The CSV needs the bearer token, so a plain link will not do: fetch it and hand the browser a blob.
  async function downloadCsv() {
    if (!current) return;
    try {
      var res = await apiFetch(reportUrl(current.month, current.by, 'csv'), keyInput.value.trim());
      var blob = await res.blob();
      var a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = 'rx-monthly-' + current.month + '-' + current.by + '.csv';
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
    } catch (e) {
      setStatus('下载失败 (Download failed): ' + e.message, true);
    }
  }

  form.addEventListener('submit', function (ev) { ev.preventDefault(); load(); });
  downloadBtn.addEventListener('click', downloadCsv);
  $('forget-key').addEventListener('click', function () { storeKey(''); keyInput.value = ''; setStatus('密钥已清除 (Key forgotten)'); });
  window.addEventListener('resize', function () { if (charts.counts) charts.counts.resize(); if (charts.value) charts.value.resize(); });

  var params = new URLSearchParams(location.search);
  monthInput.value = /^\d{4}-(0[1-9]|1[0-2])$/.test(params.get('month') || '') ? params.get('month') : thisMonth();
  if (Object.prototype.hasOwnProperty.call(GROUP_LABEL, params.get('by') || '')) bySelect.value = params.get('by');
  keyInput.value = storedKey();
  if (!window.echarts) setStatus('图表库未加载 (The chart library did not load)', true);
  else if (keyInput.value) load();
})();
