// The sign GEMM for Python: `y[t] += b ⊙ S_Bᵀ·(m ⊙ S_A·(a ⊙ x[t]))` straight from a `.lba`
// module's packed sign rows and stored scales, on the kernels of `Sources/CLoRDBAKernels` (compiled
// into this extension from those same sources, SSE2 and AVX2 paths chosen at run time).
//
// The driver does what `SignGEMM.tokenRange` does on one thread (formats/kernel.md): blocks of 8
// tokens by 4-bit tables in step 1 (k ≥ 8, else XOR tiles) and 256-entry tables in step 2, the
// remaining tokens by XOR. The same kernels in the same order give the Swift runtime's bytes.
//
// What the module holds stays as the file stores it: sign rows (1 bit per entry) and scales in
// their stored dtype. The by-output copy of S_B that step 2's tables index and the Float32 scales
// are made per call, in scratch (a few KiB; an 8 × 8 bit transpose per 64 signs).
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lordba_kernels.h"

/// Scale storage types, as `scale_dtype` names them.
enum { SCALE_F32 = 0, SCALE_F16 = 1, SCALE_BF16 = 2, SCALE_E4M3 = 3 };

/// Columns of `in` per step-1 XOR tile (`SignGEMM.tileChunks`) and input chunks per step-1 table
/// tile (`SignKernel.step1TileChunks`).
#define TILE_CHUNKS 128
#define TABLE_TILE_CHUNKS 16

static float e4m3_values[256];

static void build_e4m3_values(void) {
    for (int code = 0; code < 256; code++) {
        int e = (code >> 3) & 15, m = code & 7;
        float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + (float)m / 8.0f, e - 7);
        if ((code & 0x7F) == 0x7F) v = NAN;
        e4m3_values[code] = code & 0x80 ? -v : v;
    }
}

/// `n` stored scales as Float32 (exact for every stored type).
static void decode_scales(const void *src, int dtype, long n, float *dst) {
    switch (dtype) {
    case SCALE_F16: lordba_decode_f16(src, dst, n); break;
    case SCALE_BF16: lordba_decode_bf16(src, dst, n); break;
    case SCALE_E4M3:
        for (long i = 0; i < n; i++) dst[i] = e4m3_values[((const uint8_t *)src)[i]];
        break;
    default: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    }
}

/// The 8 × 8 bit matrix in `x` (byte r = row r, bit c = column c) transposed.
static inline uint64_t transpose_bits8(uint64_t x) {
    uint64_t t;
    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull; x ^= t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull; x ^= t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull; x ^= t ^ (t << 28);
    return x;
}

/// `columns[o·groups + g]` = the signs of channels `8g … 8g + 7` at output `o` (bit b ↔ channel 8g + b),
/// from the rank-major rows of S_B (`rowBytes` apart): step 2's table index.
static void columns_by_output(const uint8_t *signB, long rowBytes, long k, long out, long groups, uint8_t *columns) {
    for (long g = 0; g < groups; g++) {
        long rows = k - 8 * g < 8 ? k - 8 * g : 8;
        for (long c = 0; c * 8 < out; c++) {
            uint64_t block = 0;
            for (long r = 0; r < rows; r++) block |= (uint64_t)signB[(8 * g + r) * rowBytes + c] << (8 * r);
            block = transpose_bits8(block);
            for (long i = 0; i < 8 && 8 * c + i < out; i++) columns[(8 * c + i) * groups + g] = (uint8_t)(block >> (8 * i));
        }
    }
}

typedef struct {
    long in, out, k, rowBytesA, wordsPerRowB, groups;
    const uint8_t *signA;
    const uint64_t *signB;
    const float *a, *m, *b;
    const uint8_t *columns;
    int wide;
} module;

/// Rows of `x` times `a` (when given) into `dst`, as `SignKernel.prepare` makes them.
static void prepare(const module *mod, const float *x, long tokens, float *dst) {
    for (long i = 0; i < tokens * mod->in; i++) dst[i] = mod->a ? x[i] * mod->a[i % mod->in] : x[i];
}

/// Step 1 by XOR tiles for `tokens` prepared rows, blocks of at most 4.
static void down_xor(const module *mod, const float *rows, long tokens, float *z, float *tail) {
    for (long t = 0; t < tokens; t += 4) {
        long block = tokens - t < 4 ? tokens - t : 4;
        lordba_sign_down(rows + t * mod->in, mod->in, block, mod->in, mod->signA, mod->rowBytesA, 0, mod->k, mod->m,
                         z + t * mod->k, mod->k, tail, TILE_CHUNKS, mod->wide);
    }
}

/// Both steps for all `tokens` rows of `x`, adding to `y`; false when scratch cannot be allocated.
static int run(const module *mod, const float *x, float *y, long tokens) {
    long in = mod->in, out = mod->out, k = mod->k;
    long tableVectors = mod->groups * 256 + 8 > 32 * TABLE_TILE_CHUNKS ? mod->groups * 256 + 8 : 32 * TABLE_TILE_CHUNKS;
    size_t vectorBytes = (size_t)(k + tableVectors) * 32;
    float *vectors = aligned_alloc(64, (vectorBytes + 63) & ~(size_t)63);
    float *z = malloc((size_t)(8 * k) * sizeof(float));
    float *rows = malloc((size_t)(8 * in) * sizeof(float));
    float tail[128];
    if (!vectors || !z || !rows) { free(vectors); free(z); free(rows); return 0; }
    float *zT = vectors, *tables = vectors + 8 * k;
    long t = 0;
    for (; t + 8 <= tokens; t += 8) {
        if (k >= 8) {
            lordba_sign_down_table8(x + t * in, in, in, mod->a, mod->signA, mod->rowBytesA, k, mod->m, zT, tables, tail,
                                    TABLE_TILE_CHUNKS);
        } else {
            prepare(mod, x + t * in, 8, rows);
            down_xor(mod, rows, 8, z, tail);
            for (long j = 0; j < k; j++)
                for (long r = 0; r < 8; r++) zT[8 * j + r] = z[r * k + j];
        }
        lordba_sign_build_tables(zT, k, tables);
        lordba_sign_up_table8(tables, mod->groups, mod->columns, out, mod->b, y + t * out, out,
                              tables + mod->groups * 256 * 8);
    }
    for (; t < tokens; t += 8) {
        long rest = tokens - t < 8 ? tokens - t : 8;
        prepare(mod, x + t * in, rest, rows);
        down_xor(mod, rows, rest, z, tail);
        for (long u = 0; u < rest; u += 4) {
            long block = rest - u < 4 ? rest - u : 4;
            lordba_sign_up(z + u * k, k, block, k, mod->signB, mod->wordsPerRowB, out, 0, mod->wordsPerRowB, mod->b,
                           y + (t + u) * out, out, tail, mod->wide);
        }
    }
    free(vectors);
    free(z);
    free(rows);
    return 1;
}

/// Below this many sign additions per call one thread is used (`SignGEMM.parallelWork`).
#define PARALLEL_WORK (1L << 18)

typedef struct {
    const module *mod;
    const float *x;
    float *y;
    long tokens;
    int ok;
} token_range;

static void *run_range(void *arg) {
    token_range *r = arg;
    r->ok = run(r->mod, r->x, r->y, r->tokens);
    return NULL;
}

/// `run` over `threads` ranges of whole 8-token blocks (the last takes the rest): every row is
/// computed as on one thread, so the output does not depend on the thread count.
static int run_parallel(const module *mod, const float *x, float *y, long tokens, long threads) {
    long blocks = tokens / 8;
    if (threads > blocks) threads = blocks;
    if (threads > 16) threads = 16;
    if (threads < 2 || tokens * mod->k * (mod->in + mod->out) < PARALLEL_WORK) return run(mod, x, y, tokens);
    token_range ranges[16];
    pthread_t ids[16];
    long first = 0;
    for (long i = 0; i < threads; i++) {
        long count = i == threads - 1 ? tokens - first : (blocks * (i + 1) / threads - blocks * i / threads) * 8;
        ranges[i] = (token_range){mod, x + first * mod->in, y + first * mod->out, count, 0};
        first += count;
    }
    long started = 1;
    while (started < threads && pthread_create(&ids[started], NULL, run_range, &ranges[started]) == 0) started++;
    for (long i = started; i < threads; i++) run_range(&ranges[i]);  // threads that could not start
    run_range(&ranges[0]);
    int ok = ranges[0].ok;
    for (long i = 1; i < threads; i++) {
        if (i < started) pthread_join(ids[i], NULL);
        ok = ok && ranges[i].ok;
    }
    return ok;
}

static int wide_tile(void) {
    const char *forced = getenv("LORDBA_SIGN_TILE");
    if (forced && (strcmp(forced, "4x2") == 0 || strcmp(forced, "4x1") == 0)) return strcmp(forced, "4x2") == 0;
    return lordba_cpu_path() == LORDBA_PATH_AVX2;
}

/// apply(x, y, tokens, in, out, k, sign_a, sign_b, scale_a, scale_b, scale_m, scale_dtype, threads):
/// pointers as integers (`scale_a` 0 when absent); `x` and `y` contiguous Float32, the sign rows
/// as the file stores them; at most `threads` threads. Callers (lordba.torch.ops) check every shape.
static PyObject *apply(PyObject *self, PyObject *args) {
    (void)self;
    unsigned long long px, py, psa, psb, pa, pb, pm;
    long tokens, in, out, k, threads;
    int dtype;
    if (!PyArg_ParseTuple(args, "KKllllKKKKKil", &px, &py, &tokens, &in, &out, &k, &psa, &psb, &pa, &pb, &pm, &dtype,
                          &threads))
        return NULL;
    if (tokens < 0 || in < 1 || out < 1 || k < 1 || dtype < 0 || dtype > 3) {
        PyErr_SetString(PyExc_ValueError, "sign GEMM: bad sizes or scale dtype");
        return NULL;
    }
    if (tokens == 0) Py_RETURN_NONE;
    module mod = {
        .in = in, .out = out, .k = k, .rowBytesA = (in + 63) / 64 * 8, .wordsPerRowB = (out + 63) / 64,
        .groups = (k + 7) / 8, .signA = (const uint8_t *)(uintptr_t)psa, .signB = (const uint64_t *)(uintptr_t)psb,
        .m = (const float *)(uintptr_t)pm, .wide = wide_tile(),
    };
    float *scales = malloc((size_t)(in + out) * sizeof(float));
    uint8_t *columns = tokens >= 8 ? malloc((size_t)(out * mod.groups)) : NULL;
    int ok = scales && (tokens < 8 || columns);
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        if (pa) decode_scales((const void *)(uintptr_t)pa, dtype, in, scales);
        decode_scales((const void *)(uintptr_t)pb, dtype, out, scales + in);
        mod.a = pa ? scales : NULL;
        mod.b = scales + in;
        if (columns) columns_by_output((const uint8_t *)(uintptr_t)psb, mod.wordsPerRowB * 8, k, out, mod.groups, columns);
        mod.columns = columns;
        ok = run_parallel(&mod, (const float *)(uintptr_t)px, (float *)(uintptr_t)py, tokens, threads);
        Py_END_ALLOW_THREADS
    }
    free(scales);
    free(columns);
    if (!ok) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/// cpu_path() -> "avx2" or "sse2": the kernel path chosen at load (`LORDBA_CPU` forces one).
static PyObject *cpu_path(PyObject *self, PyObject *args) {
    (void)self; (void)args;
    return PyUnicode_FromString(lordba_cpu_path() == LORDBA_PATH_AVX2 ? "avx2" : "sse2");
}

/// set_cpu_path("avx2" | "sse2") -> bool: switches the kernel path (tests, benchmarks); False when
/// this CPU cannot run it (nothing changes).
static PyObject *set_cpu_path(PyObject *self, PyObject *arg) {
    (void)self;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    if (strcmp(name, "avx2") != 0 && strcmp(name, "sse2") != 0) {
        PyErr_SetString(PyExc_ValueError, "cpu path must be avx2 or sse2");
        return NULL;
    }
    return PyBool_FromLong(lordba_set_cpu_path(strcmp(name, "avx2") == 0 ? LORDBA_PATH_AVX2 : LORDBA_PATH_SSE2));
}

static PyMethodDef methods[] = {
    {"set_cpu_path", set_cpu_path, METH_O, "Switches the kernel path: avx2 or sse2 (False when unsupported)."},
    {"apply", apply, METH_VARARGS, "Adds a .lba module's branch to y (raw pointers; see lordba.torch.ops)."},
    {"cpu_path", cpu_path, METH_NOARGS, "The kernel path in use: avx2 or sse2."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {PyModuleDef_HEAD_INIT, "lordba._signgemm",
                                        "The sign GEMM of Sources/CLoRDBAKernels.", -1, methods};

PyMODINIT_FUNC PyInit__signgemm(void) {
    build_e4m3_values();
    return PyModule_Create(&definition);
}
