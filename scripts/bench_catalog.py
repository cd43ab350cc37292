"""Catalog search latency (`catalog.search_assets`, `GET /v1/assets`) on a large registry.

What is measured: for each size N (--sizes) and backend (--db), a FRESH database is made (SQLite:
a file in a temp dir; PostgreSQL: a database `dl_bench_<hex>` created on
postgresql://postgres@127.0.0.1:5432/test and dropped at the end, also on failure), the schema is
built with `ledger.storage.migrate.upgrade(make_engine(url))`, N synthetic assets are bulk-loaded,
statistics are gathered (ANALYZE; on PostgreSQL VACUUM ANALYZE, as autovacuum would), and then:

  * storage layer: `--queries` randomised calls of `catalog.search_assets(conn, AssetFilter(...),
    before=cursor, limit=--limit)` per query kind, each in its own `engine.connect()` (like the
    controller: pool checkout, BEGIN, query, rollback); p50/p99/max in ms;
  * HTTP: a `dataledger serve --database-url URL --no-access-log` started on the loaded database
    (its startup migrations find the schema at head), timed `GET /v1/assets?...` with one
    keep-alive httpx client from 127.0.0.1, for a few query kinds (--http-queries each).

Query kinds: first page unfiltered; category; classification; owner; status (incl. frozen);
category+status; text with a rare term (df <= N/20000); text with a common term (df >= 5 %);
text with an absent term; short text (1-2 chars, Chinese) common and rare; deep pagination
(cursor in the middle 25..75 % of the index range), unfiltered and with a category.
Every kind has a time budget (--budget seconds); a kind that exceeds it stops early (n < queries).
Kinds whose p99 exceeds the target (--target-ms, default 50) get their slowest call's SQL
explained (SQLite: EXPLAIN QUERY PLAN; PostgreSQL: EXPLAIN (ANALYZE, BUFFERS)); --explain
explains every kind.

The data (seeded, --seed): ~2,000 owners (parties; assets per owner Zipf-like), 30 categories
(Zipf-like), classification 86 % general / 11 % important / 3 % core, status 72 % certified /
22 % on_notice / 6 % rejected, ~0.5 % frozen; titles and descriptions mix English and Chinese
words drawn from Zipf-distributed vocabularies (a few hundred real words at the head, tens of
thousands of made-up rare words at the tail), so text search has common and rare terms; about
half the rows carry a schema/quality JSON like real registrations (row width matters for scans).
Caveat on "rare" terms: the made-up English words are built from 48 syllables, so every trigram
in them is common and a trigram index has to intersect long posting lists (pessimistic); a rare
Chinese term is 3 characters, i.e. one rare trigram (optimistic).
On-notice rows get a notice end in the future, so the server's certifier has nothing to do.

The rows are written DIRECTLY into the projection tables the catalog reads (`parties`, `assets`
and, on SQLite, the FTS5 trigram table `assets_search`), exactly the columns
`projections._asset_registered` writes, NOT through the ledger: no statements, entries, Merkle
nodes, asset_versions or rights are made. This benchmark measures read latency only; loading is
fast (executemany in large batches on SQLite; COPY on PostgreSQL, with the secondary indexes of
`assets` dropped for the COPY and re-created from their own definitions) and its time is
reported.

    python scripts/bench_catalog.py --db both --sizes 100000,1000000 --queries 300
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bench
import httpx
from sqlalchemy import event, inspect, make_url

from ledger.storage import catalog
from ledger.storage.engine import make_engine
from ledger.storage.migrate import upgrade

BATCH = 50_000  # rows per executemany / generator batch
TXN_ROWS = 250_000  # SQLite rows per transaction

# --- synthetic data -----------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return text.split()


CATEGORIES = words(
    "transport finance healthcare retail energy weather government telecom agriculture "
    "education manufacturing logistics real-estate insurance tourism media environment legal "
    "sports public-safety water geospatial ecommerce advertising hr biotech aviation maritime "
    "mining culture"
)
EN_COMMON = words(
    "data dataset records daily monthly annual city traffic sales customer energy weather "
    "sensor hospital patient retail market price index survey census population health "
    "transport vehicle flight port logistics order product review news finance credit loan "
    "insurance claim payment account user behaviour event image video audio text speech map "
    "satellite remote sensing land water air quality pollution emission carbon forest "
    "agriculture crop soil school student exam library book film music game sport tourism hotel "
    "restaurant delivery parcel ecommerce advertising marketing store inventory supply chain "
    "manufacturing equipment fault power grid load solar wind charging station national "
    "provincial municipal district community realtime historical open anonymized aggregated "
    "labelled annotated training benchmark statistics transactions trajectories readings "
    "measurements registry catalogue metadata quarterly hourly regional urban rural enterprise "
    "public private platform mobile network telecom signal coverage usage consumption household "
    "income employment salary tax"
)
ZH_COMMON = words(
    "数据 交通 销售 客户 能源 气象 传感器 医院 患者 零售 市场 价格 指数 调查 人口 健康 "
    "车辆 航班 港口 物流 订单 商品 评论 新闻 金融 信贷 贷款 保险 理赔 支付 账户 用户 行为 "
    "日志 图像 视频 语音 文本 地图 卫星 遥感 土地 水质 空气 质量 污染 排放 碳汇 森林 农业 "
    "作物 土壤 学校 学生 考试 图书 电影 音乐 游戏 体育 旅游 酒店 餐饮 外卖 快递 电商 直播 "
    "短视频 广告 营销 门店 库存 供应链 制造 设备 故障 电力 电网 负荷 光伏 风电 充电桩 全国 "
    "省级 市级 区县 乡镇 街道 社区 实时 历史 开放 脱敏 汇总 标注 训练 样本 基准 统计 交易 "
    "轨迹 读数 监测 登记 目录 季度 月度 年度 城市 农村 企业 公共 平台 移动 网络 通信 信号 "
    "覆盖 消费 家庭 收入 就业 工资 税务 专利 法律 裁判 文书 政务 工商 气温 降水 风速 房产 "
    "租赁 招聘 信用 评分 模型 公交 地铁 停车 仓储 出版 赛事 舆情 病例 药品 医保 疫苗 水文 "
    "地质 矿产 海洋 渔业 畜牧"
)
ZH_CHARSET = (
    "璟翊岚珂瑾琛瑜璇琪瑶珩琰瑄玥璞瑛琅琮璐璘嵘崧峤岫巍峥嵩岱嶂屹泓澜涵淇溪澄沁漪湄瀚濠渊汐淼"
    "烨煜炜熠焱灿炅晔昊旻晟曦昕晗暄暻曜旸昀晏檀楠榕桦枫梧桐柏樟楷栎榆杉柘棠槐楸椿檬榛蘅芷蔚"
    "茗苒菁萱蓁荃蕤芊蓉莘苇荻蘩藜骁骏驰骞驹麟鸿鹏鹤鸾凰雎鹭鸥鹂隼翎翀翚羽翰锦绮绫纨缃绯缇绛"
    "黛靛赭绀缥缈邈遐逸迩遥逍遨逵迪逖钧铮锐钊镛锴铠镕铎钰鑫铭锋钦铄锟铖镐钤铨锜錾"
).replace(" ", "")
SYLLABLES = words(
    "ka lo mi zen tor vex qua rin bel dor fa gly hum jex nup ost pri sul tav wim yor zab cre "
    "dri flo gan hib jor kel lum mor nix pol quin rov sab tem ulo vor wex yal zed bra clo fen "
    "gro"
)
ZH_COMMA = "\uff0c"  # fullwidth comma between Chinese clauses
ZH_SUFFIX = ("数据集", "数据", "统计表", "台账", "监测数据", "明细", "报表")
STATUSES = ("certified", "on_notice", "rejected")
STATUS_W = (72, 22, 6)
CLASSIFICATIONS = ("general", "important", "core")
CLASS_W = (86, 11, 3)
PERSONAL = ("none", "anonymized", "personal", "sensitive_personal")
PERSONAL_W = (60, 25, 12, 3)
N_OWNERS = 2000

ASSET_COLS = (
    "asset_id", "owner_id", "title", "description", "category", "classification",
    "personal_info", "fingerprint", "size_bytes", "record_count", "schema_json",
    "derived_from_json", "declared_cost_minor", "declared_cost_currency", "quality_json",
    "quality_score", "status", "conflict", "frozen", "version", "registered_index",
    "registered_at", "notice_ends_at", "certified_index", "status_reason", "updated_index",
    "freeze_reason",  # since migration 0003; left out if the schema has no such column
)  # fmt: skip
PARTY_COLS = ("party_id", "name", "registered_index", "registered_at", "contact_commitment")


def zipf_cum(n: int, s: float, q: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1.0 / (r + q) ** s for r in range(n)))


def ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Corpus:
    """Seeded vocabularies, owners and the row generator; remembers document frequencies."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.seed = seed
        en_rare: list[str] = []
        seen = set(EN_COMMON)
        while len(en_rare) < 40_000:
            w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            if len(w) >= 5 and w not in seen:
                seen.add(w)
                en_rare.append(w)
        zh_rare: list[str] = []
        seen = set(ZH_COMMON)
        while len(zh_rare) < 20_000:
            w = "".join(rng.choice(ZH_CHARSET) for _ in range(3))
            if w not in seen:
                seen.add(w)
                zh_rare.append(w)
        self.en = EN_COMMON + en_rare
        self.zh = ZH_COMMON + zh_rare
        self.en_cum = zipf_cum(len(self.en), 1.05, 2.0)
        self.zh_cum = zipf_cum(len(self.zh), 1.05, 2.0)
        self.cat_cum = zipf_cum(len(CATEGORIES), 1.1)
        self.owners = [f"{rng.getrandbits(256):064x}" for _ in range(N_OWNERS)]
        self.owner_cum = zipf_cum(N_OWNERS, 0.8)
        self.df: Counter[str] = Counter()
        self.now = datetime.now(UTC).timestamp()
        self.first_index = 3 * N_OWNERS + 1  # parties' own entries come first
        self.last_index = self.first_index

    def parties(self) -> list[tuple[Any, ...]]:
        start = self.now - 3 * 365 * 86400 - 86400
        return [
            (pid, f"Bench owner {i} 数据公司", 1 + 3 * i, ts(start + i), None)
            for i, pid in enumerate(self.owners)
        ]

    def rows(self, n: int) -> Iterator[list[tuple[Any, ...]]]:
        """Asset rows in registration order (registered_index ascending), in batches."""
        rng = random.Random(self.seed * 7919 + n)
        choices, rand, randint = rng.choices, rng.random, rng.randint
        span = 3 * 365 * 86400
        t = self.now - span
        step = span / n
        index = self.first_index
        en, zh, en_cum, zh_cum = self.en, self.zh, self.en_cum, self.zh_cum
        df_update = self.df.update
        batch: list[tuple[Any, ...]] = []
        for _ in range(n):
            index += randint(1, 3)  # certify/version/objection entries sit in between
            t += step * (0.5 + rand())
            lang = rand()
            if lang < 0.4:  # Chinese
                tw = choices(zh, cum_weights=zh_cum, k=randint(2, 4))
                dw = choices(zh, cum_weights=zh_cum, k=randint(8, 20))
                title = "".join(tw) + ZH_SUFFIX[randint(0, len(ZH_SUFFIX) - 1)]
                desc = ZH_COMMA.join("".join(dw[i : i + 3]) for i in range(0, len(dw), 3)) + "。"
            elif lang < 0.8:  # English
                tw = choices(en, cum_weights=en_cum, k=randint(3, 6))
                dw = choices(en, cum_weights=en_cum, k=randint(12, 28))
                title = " ".join(tw).capitalize()
                desc = " ".join(dw).capitalize() + "."
            else:  # mixed
                tw = choices(zh, cum_weights=zh_cum, k=2) + choices(en, cum_weights=en_cum, k=2)
                dw = choices(zh, cum_weights=zh_cum, k=randint(4, 10)) + choices(
                    en, cum_weights=en_cum, k=randint(6, 14)
                )
                title = "".join(tw[:2]) + " " + " ".join(tw[2:]).title()
                desc = "".join(dw[:-8]) + "。" + " ".join(dw[-8:])
            df_update(set(tw) | set(dw))
            status = choices(STATUSES, STATUS_W)[0]
            frozen = status == "certified" and rand() < 0.007
            conflict = rand() < (0.5 if status == "rejected" else 0.005)
            has_schema = rand() < 0.5
            schema = (
                json.dumps([{"name": w, "type": "string", "description": w + " field"}
                            for w in choices(en, cum_weights=en_cum, k=randint(3, 10))])
                if has_schema else None
            )  # fmt: skip
            quality = (
                json.dumps({"completeness": randint(50, 100), "accuracy": randint(50, 100),
                            "timeliness": randint(50, 100)})
                if has_schema else None
            )  # fmt: skip
            cost = rand() < 0.3
            notice_end = (
                self.now + 86400 * (1 + 9 * rand()) if status == "on_notice" else t + 10 * 86400
            )
            batch.append((
                f"{rng.getrandbits(128):032x}",
                self.owners[_bisect(self.owner_cum, rand() * self.owner_cum[-1])],
                title,
                desc,
                CATEGORIES[_bisect(self.cat_cum, rand() * self.cat_cum[-1])],
                choices(CLASSIFICATIONS, CLASS_W)[0],
                choices(PERSONAL, PERSONAL_W)[0],
                f"{rng.getrandbits(256):064x}",
                int(math.exp(rng.gauss(16, 3))),
                int(math.exp(rng.gauss(10, 3))),
                schema,
                "[]",
                randint(1000, 10_000_000) if cost else None,
                "CNY" if cost else None,
                quality,
                randint(50, 100) if has_schema else None,
                status,
                conflict,
                frozen,
                1 if rand() < 0.9 else randint(2, 4),
                index,
                ts(t),
                ts(notice_end),
                index + randint(1, 5000) if status == "certified" else None,
                "conflicting claim upheld" if status == "rejected" else None,
                index,
                "regulator order 2026-17" if frozen else None,
            ))  # fmt: skip
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch
        self.last_index = index


def _bisect(cum: list[float], x: float) -> int:
    import bisect

    return min(bisect.bisect_right(cum, x), len(cum) - 1)


# --- loading ------------------------------------------------------------------------------------


def _asset_columns(
    url: str,
) -> tuple[tuple[str, ...], Callable[[tuple[Any, ...]], tuple[Any, ...]]]:
    """The generated columns the migrated `assets` table has, and a row projection onto them."""
    engine = make_engine(url)
    try:
        present = {c["name"] for c in inspect(engine).get_columns("assets")}
    finally:
        engine.dispose()
    keep = [i for i, c in enumerate(ASSET_COLS) if c in present]
    if len(keep) == len(ASSET_COLS):
        return ASSET_COLS, lambda row: row
    return tuple(ASSET_COLS[i] for i in keep), lambda row: tuple(row[i] for i in keep)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def load_sqlite(url: str, corpus: Corpus, batches: list[list[tuple[Any, ...]]]) -> float:
    n = sum(len(b) for b in batches)
    columns, project = _asset_columns(url)
    t_start = time.perf_counter()
    db = sqlite3.connect(_sqlite_path(url), isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-1048576")  # 1 GiB while loading only
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("BEGIN")
        db.executemany(
            _insert_sql("parties", PARTY_COLS),
            corpus.parties(),
        )
        sql = _insert_sql("assets", columns)
        done = 0
        for batch in batches:
            db.executemany(sql, map(project, batch))
            db.executemany(
                "INSERT INTO assets_search (asset_id, title, description) VALUES (?, ?, ?)",
                [(r[0], r[2], r[3]) for r in batch],
            )
            done += len(batch)
            if done % TXN_ROWS == 0:
                db.execute("COMMIT")
                db.execute("BEGIN")
            _progress(done, n)
        db.execute("COMMIT")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return time.perf_counter() - t_start


def load_postgres(url: str, corpus: Corpus, batches: list[list[tuple[Any, ...]]]) -> float:
    import psycopg

    n = sum(len(b) for b in batches)
    columns, project = _asset_columns(url)
    t_start = time.perf_counter()
    with psycopg.connect(_libpq_url(url)) as pg:
        # Secondary indexes (the GIN trigram one above all) are dropped for the COPY and rebuilt
        # from their own definitions afterwards: same schema, built in one pass instead of
        # row by row.
        secondary = pg.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'assets'::regclass AND NOT indisprimary AND NOT indisunique"
        ).fetchall()
        for name, _definition in secondary:
            pg.execute(f'DROP INDEX "{name}"')
        with pg.cursor() as cur:
            with cur.copy(f"COPY parties ({', '.join(PARTY_COLS)}) FROM STDIN") as copy:
                for row in corpus.parties():
                    copy.write_row(row)
            done = 0
            with cur.copy(f"COPY assets ({', '.join(columns)}) FROM STDIN") as copy:
                for batch in batches:
                    for row in batch:
                        copy.write_row(project(row))
                    done += len(batch)
                    _progress(done, n)
        pg.execute("SET maintenance_work_mem = '1GB'")
        for _name, definition in secondary:
            pg.execute(definition)
        pg.commit()
    return time.perf_counter() - t_start


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _progress(done: int, n: int) -> None:
    if done % 250_000 == 0 or done == n:
        print(f"    loaded {done:,}/{n:,}", file=sys.stderr, flush=True)


def analyze(kind: str, url: str) -> float:
    t0 = time.perf_counter()
    if kind == "sqlite":
        db = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        db.execute("ANALYZE")
        db.close()
    else:
        import psycopg

        with psycopg.connect(_libpq_url(url), autocommit=True) as pg:
            pg.execute("VACUUM (ANALYZE) parties")
            pg.execute("VACUUM (ANALYZE) assets")
    return time.perf_counter() - t0


def db_size_mb(kind: str, url: str) -> float:
    if kind == "sqlite":
        return _sqlite_path(url).stat().st_size / 2**20
    import psycopg

    with psycopg.connect(_libpq_url(url)) as pg:
        row = pg.execute("SELECT pg_database_size(current_database())").fetchone()
        return float(row[0] if row else 0) / 2**20


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


# --- query kinds --------------------------------------------------------------------------------


class Pools:
    """What the randomised queries pick from, derived from the generated data."""

    def __init__(self, corpus: Corpus, n: int, rng: random.Random) -> None:
        df = corpus.df
        rare_max = max(2, n // 20_000)
        rare = [w for w, c in df.items() if c <= rare_max and len(w) >= 3]
        common = [w for w, c in df.items() if c >= 0.05 * n and len(w) >= 3]
        self.rare = rng.sample(rare, min(1000, len(rare)))
        self.common = common
        self.absent = [f"{a}{b}{c}q" for a, b, c in itertools.product("xz", SYLLABLES, "vw")]
        # Short (1-2 chars): common Chinese words / characters vs the first two characters of
        # rare made-up words (few rows match, so a scan has to go far).
        short_common = [w for w in ZH_COMMON if len(w) == 2 and df[w] >= 0.01 * n]
        self.short_common = short_common + sorted({w[0] for w in short_common})
        self.short_rare = sorted({w[:2] for w in self.rare if "\u4e00" <= w[0] <= "\u9fff"})
        if not self.short_rare:  # tiny sizes
            self.short_rare = ["璟翊"]
        self.df = df
        self.owners = corpus.owners
        self.first, self.last = corpus.first_index, corpus.last_index

    def describe(self) -> str:
        def rng_df(ws: list[str]) -> str:
            c = [self.df[w] for w in ws]
            return f"{min(c):,}..{max(c):,}" if c else "-"

        return (f"rare terms {len(self.rare)} (df {rng_df(self.rare)}), common terms "
                f"{len(self.common)} (df {rng_df(self.common)}), short common "
                f"{len(self.short_common)}, short rare {len(self.short_rare)}")  # fmt: skip


Query = tuple[catalog.AssetFilter, int | None]
F = catalog.AssetFilter


def kinds(p: Pools) -> dict[str, Callable[[random.Random], Query]]:
    status4 = ("on_notice", "certified", "rejected", "frozen")

    def mid(r: random.Random) -> int:
        return r.randint(p.first + (p.last - p.first) // 4, p.first + 3 * (p.last - p.first) // 4)

    return {
        "first page": lambda r: (F(), None),
        "category": lambda r: (F(category=r.choice(CATEGORIES)), None),
        "classification": lambda r: (F(classification=r.choice(CLASSIFICATIONS)), None),
        "owner": lambda r: (F(owner=r.choice(p.owners)), None),
        "status": lambda r: (F(status=r.choice(status4)), None),
        "category+status": lambda r: (
            F(category=r.choice(CATEGORIES), status=r.choice(status4)),
            None,
        ),
        "q rare": lambda r: (F(q=r.choice(p.rare)), None),
        "q common": lambda r: (F(q=r.choice(p.common)), None),
        "q absent": lambda r: (F(q=r.choice(p.absent)), None),
        "q short common": lambda r: (F(q=r.choice(p.short_common)), None),
        "q short rare": lambda r: (F(q=r.choice(p.short_rare)), None),
        "deep cursor": lambda r: (F(), mid(r)),
        "deep cursor+category": lambda r: (F(category=r.choice(CATEGORIES)), mid(r)),
    }  # fmt: skip


HTTP_KINDS = ("first page", "category+status", "q rare")


class Capture:
    """Remembers the last SQL statement and parameters an engine executed."""

    def __init__(self, engine: Any) -> None:
        self.last: tuple[str, Any] = ("", None)
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        self.last = (statement, params)


def storage_latency(
    url: str, pools: Pools, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, tuple[str, Any, Query]]]:
    engine = make_engine(url)
    capture = Capture(engine)
    results, slowest = [], {}
    try:
        for name, make in kinds(pools).items():
            rng = random.Random(f"{args.seed}-{name}")
            for _ in range(3):  # warm-up: pool, statement caches, the pages it touches first
                _search(engine, *make(rng), args.limit)
            lat, rows, worst = [], 0, -1.0
            started = time.perf_counter()
            for _ in range(args.queries):
                query = make(rng)
                t0 = time.perf_counter()
                found = _search(engine, *query, args.limit)
                dt = time.perf_counter() - t0
                lat.append(dt)
                rows += found
                if dt > worst:
                    worst = dt
                    slowest[name] = (*capture.last, query)
                if time.perf_counter() - started > args.budget:
                    break
            results.append({"layer": "storage", "query": name, "n": len(lat),
                            "rows": rows / len(lat), **_bench.latency_summary_ms(lat)})  # fmt: skip
            r = results[-1]
            print(f"    {name:22s} n={r['n']:4d} p50={r['p50_ms']:8.2f} p99={r['p99_ms']:8.2f} "
                  f"max={r['max_ms']:8.2f} ms", file=sys.stderr, flush=True)  # fmt: skip
    finally:
        engine.dispose()
    return results, slowest


def _search(engine: Any, flt: catalog.AssetFilter, before: int | None, limit: int) -> int:
    with engine.connect() as conn:
        rows, _cursor = catalog.search_assets(conn, flt, before=before, limit=limit)
    return len(rows)


def http_latency(base: str, pools: Pools, args: argparse.Namespace) -> list[dict[str, Any]]:
    makers = kinds(pools)
    results = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for name in HTTP_KINDS:
            rng = random.Random(f"{args.seed}-http-{name}")
            paths = [_params(*makers[name](rng), args.limit) for _ in range(args.http_queries + 5)]
            for params in paths[:5]:  # warm-up
                client.get("/v1/assets", params=params).raise_for_status()
            lat, rows = [], 0
            started = time.perf_counter()
            for params in paths[5:]:
                t0 = time.perf_counter()
                resp = client.get("/v1/assets", params=params)
                body = resp.content
                dt = time.perf_counter() - t0
                if resp.status_code != 200:
                    raise RuntimeError(
                        f"GET /v1/assets {params}: {resp.status_code} {body[:300]!r}"
                    )
                lat.append(dt)
                rows += len(resp.json()["assets"])
                if time.perf_counter() - started > args.budget:
                    break
            results.append({"layer": "http", "query": name, "n": len(lat),
                            "rows": rows / len(lat), **_bench.latency_summary_ms(lat)})  # fmt: skip
    return results


def _params(flt: catalog.AssetFilter, before: int | None, limit: int) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    for key in ("q", "category", "classification", "owner", "status"):
        if getattr(flt, key):
            params[key] = getattr(flt, key)
    if before is not None:
        params["cursor"] = before
    return params


def explain(kind: str, url: str, statement: str, params: Any) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if kind == "sqlite":
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
                return "\n".join(f"  {r[0]:>3} {r[1]:>3}  {r[3]}" for r in rows)
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            return "\n".join("  " + r[0] for r in rows)
    finally:
        engine.dispose()


# --- one run ------------------------------------------------------------------------------------


def run(
    kind: str,
    corpus: Corpus,
    batches: list[list[tuple[Any, ...]]],
    gen_s: float,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    n = sum(len(b) for b in batches)
    with _bench.temp_dir() as tmp, _bench.database(kind, tmp) as url:
        print(f"[{kind} {n:,}] schema + load ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        schema_s = time.perf_counter() - t0
        if kind == "sqlite":
            insert_s = load_sqlite(url, corpus, batches)
        else:
            insert_s = load_postgres(url, corpus, batches)
        analyze_s = 0.0 if args.no_analyze else analyze(kind, url)
        size_mb = db_size_mb(kind, url)
        print(f"[{kind} {n:,}] loaded: insert {insert_s:.1f} s, analyze {analyze_s:.1f} s, "
              f"{size_mb:,.0f} MiB",
              file=sys.stderr, flush=True)  # fmt: skip
        pools = Pools(corpus, n, random.Random(args.seed))
        print(f"[{kind} {n:,}] {pools.describe()}", file=sys.stderr, flush=True)
        rows, slowest = storage_latency(url, pools, args)
        if args.http_queries > 0:
            print(f"[{kind} {n:,}] HTTP ...", file=sys.stderr, flush=True)
            with _bench.Server(tmp, url) as server:
                try:
                    rows += http_latency(server.url, pools, args)
                except Exception:
                    print(f"server log tail:\n{server.tail(60)}", file=sys.stderr)
                    raise
        plans = []
        for r in rows:
            if r["layer"] == "storage" and (args.explain or r["p99_ms"] > args.target_ms):
                statement, params, query = slowest[r["query"]]
                plans.append((r["query"], query, statement, explain(kind, url, statement, params)))
    load = {
        "schema_s": schema_s,
        "gen_s": gen_s,
        "insert_s": insert_s,
        "analyze_s": analyze_s,
        "size_mb": size_mb,
    }
    for r in rows:
        r.update(db=kind, size=n, ok="yes" if r["p99_ms"] <= args.target_ms else "MISS")
    rows[0]["_load"] = load
    rows[0]["_plans"] = plans
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated asset counts")
    parser.add_argument("--queries", type=int, default=300, help="timed calls per query kind")
    parser.add_argument(
        "--http-queries",
        type=int,
        default=200,
        help=f"timed HTTP calls per kind ({', '.join(HTTP_KINDS)}); 0: no HTTP",
    )
    parser.add_argument("--limit", type=int, default=50, help="page size (the API default)")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds per query kind before it stops early"
    )
    parser.add_argument("--target-ms", type=float, default=50.0, help="p99 target")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the plan of every kind's slowest call, not only misses",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="skip ANALYZE after loading (the service never runs it on SQLite)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()  # fmt: skip
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 100:
        parser.error("--sizes: at least 100 assets")

    corpus = Corpus(args.seed)
    all_rows: list[dict[str, Any]] = []
    for n in sizes:
        # Generated once per size (kept in memory, ~2 GB at 1M) and loaded into each backend.
        print(f"[{n:,}] generating ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        corpus.df.clear()
        batches = list(corpus.rows(n))
        gen_s = time.perf_counter() - t0
        for kind in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
            all_rows += run(kind, corpus, batches, gen_s, args)
        del batches

    print("\nload (rows written straight into the projections, not through the ledger)")
    for r in all_rows:
        if "_load" in r:
            ld = r["_load"]
            print(f"  {r['db']:8s} {r['size']:>10,} assets: schema {ld['schema_s']:.1f} s, "
                  f"generate {ld['gen_s']:.1f} s (once per size), insert {ld['insert_s']:.1f} s, "
                  f"analyze {ld['analyze_s']:.1f} s, db {ld['size_mb']:,.0f} MiB")  # fmt: skip
    columns = ["db", "size", "layer", "query", "n", "rows", "p50_ms", "p99_ms", "max_ms", "ok"]
    _bench.print_table(all_rows, columns,
                       title=f"catalog search latency, limit {args.limit} (ok: p99 <= "
                             f"{args.target_ms:g} ms)")  # fmt: skip
    for r in all_rows:
        for name, query, statement, plan in r.get("_plans", []):
            print(f"\n[{r['db']} {r['size']:,}] slowest '{name}': {query}\n{statement}\n{plan}")
    if args.json:
        _bench.emit_json([{k: v for k, v in r.items() if k != "_plans"} for r in all_rows])


if __name__ == "__main__":
    main()
