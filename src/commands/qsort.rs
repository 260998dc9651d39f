//! The two sorts Redis's replies come out of, reproduced step for step so
//! that items comparing equal end in Redis's order: glibc's `qsort`, which
//! Debian's redis-server gets (a stable merge sort), and Redis's own
//! `pqsort` (`pqsort.c`), a partial quicksort that sorts only what a LIMIT
//! or COUNT keeps. GEO searches (COUNT) and SORT (BY with LIMIT) use them.
//! Comparators return C's -1/0/1.

/// glibc's `qsort` (a top-down merge sort, stable: the left run wins ties).
pub fn merge_sort<T>(v: &mut Vec<T>, cmp: &impl Fn(&T, &T) -> i32) {
    if v.len() <= 1 {
        return;
    }
    let mut right = v.split_off(v.len() / 2);
    merge_sort(v, cmp);
    merge_sort(&mut right, cmp);
    let left = std::mem::take(v);
    v.reserve(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(a), Some(b)) = (l.peek(), r.peek()) {
        let next = if cmp(a, b) <= 0 { l.next() } else { r.next() };
        v.extend(next);
    }
    v.extend(l);
    v.extend(r);
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &impl Fn(&T, &T) -> i32) -> usize {
    if cmp(&v[a], &v[b]) < 0 {
        if cmp(&v[b], &v[c]) < 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            c
        } else {
            a
        }
    } else if cmp(&v[b], &v[c]) > 0 {
        b
    } else if cmp(&v[a], &v[c]) < 0 {
        a
    } else {
        c
    }
}

fn swap_runs<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// Redis's `pqsort`: Bentley and McIlroy's quicksort that only recurses
/// into the parts overlapping positions `lo..=hi`, so those end up sorted
/// (and, where they compare equal, in the order Redis puts them).
pub fn partial_sort<T>(v: &mut [T], lo: usize, hi: usize, cmp: &impl Fn(&T, &T) -> i32) {
    let n = v.len();
    pqsort(v, 0, n, lo, hi, cmp);
}

/// `partial_sort` of the `n` items from `a`.
fn pqsort<T>(
    v: &mut [T],
    mut a: usize,
    mut n: usize,
    lo: usize,
    hi: usize,
    cmp: &impl Fn(&T, &T) -> i32,
) {
    // Whether the part of `m` items from `s` lies wholly outside lo..=hi.
    let skip = |s: usize, m: usize| (lo < s && hi < s) || (lo >= s + m && hi >= s + m);
    loop {
        if n < 7 {
            for pm in a + 1..a + n {
                let mut pl = pm;
                while pl > a && cmp(&v[pl - 1], &v[pl]) > 0 {
                    v.swap(pl, pl - 1);
                    pl -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let (mut pl, mut pn) = (a, a + n - 1);
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let c = cmp(&v[pb], &v[a]);
                if c > 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let c = cmp(&v[pc], &v[a]);
                if c < 0 {
                    break;
                }
                if c == 0 {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        swap_runs(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        swap_runs(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !skip(a, r) {
            pqsort(v, a, r, lo, hi, cmp);
        }
        let r = pd - pc;
        if r > 1 && !skip(pn - r, r) {
            a = pn - r;
            n = r;
            continue;
        }
        return;
    }
}
