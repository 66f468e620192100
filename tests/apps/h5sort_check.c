/* SPDX-License-Identifier: BSD-3-Clause */
/* h5sort_check IN.h5 /in OUT.h5 /out KEY [desc]: checks sluice-h5sort's output with
 * HDF5's own API, independently of sluice: the output holds exactly the input rows
 * (matched by their "id", which sluice-gen sets to the row index), ordered by KEY
 * (descending if asked, NaN last) with ties in input order (a stable sort). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
  long long id;
  double key;
} row;

static row *load(const char *file, const char *path, const char *key, hsize_t *n) {
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0)
    return NULL;
  hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
  if (d < 0)
    return NULL;
  hid_t s = H5Dget_space(d);
  H5Sget_simple_extent_dims(s, n, NULL);
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(row));
  H5Tinsert(t, "id", HOFFSET(row, id), H5T_NATIVE_LLONG);
  int key_is_id = strcmp(key, "id") == 0; /* a member may be inserted only once */
  if (!key_is_id)
    H5Tinsert(t, key, HOFFSET(row, key), H5T_NATIVE_DOUBLE);
  row *r = malloc((*n ? *n : 1) * sizeof *r);
  if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) < 0)
    return NULL;
  if (key_is_id)
    for (hsize_t i = 0; i < *n; i++)
      r[i].key = (double)r[i].id;
  H5Tclose(t);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
  return r;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: h5sort_check IN.h5 /in OUT.h5 /out KEY [desc]\n");
    return 2;
  }
  int desc = argc > 6;
  hsize_t nin, nout;
  row *in = load(argv[1], argv[2], argv[5], &nin), *out = load(argv[3], argv[4], argv[5], &nout);
  if (!in || !out) {
    fprintf(stderr, "h5sort_check: cannot read the datasets\n");
    return 1;
  }
  long errors = 0;
  if (nin != nout) {
    printf("row count: input %llu, output %llu\n", (unsigned long long)nin,
           (unsigned long long)nout);
    return 1;
  }
  char *seen = calloc(nin ? nin : 1, 1);
  for (hsize_t i = 0; i < nout; i++) {
    long long id = out[i].id;
    if (id < 0 || (hsize_t)id >= nin || seen[id]++) {
      if (errors++ < 5)
        printf("row %llu: id %lld missing from the input or repeated\n", (unsigned long long)i, id);
      continue;
    }
    if (!(in[id].key == out[i].key || (isnan(in[id].key) && isnan(out[i].key)))) {
      if (errors++ < 5)
        printf("row %llu: key differs from input row %lld\n", (unsigned long long)i, id);
    }
    if (i == 0)
      continue;
    double a = out[i - 1].key, b = out[i].key;
    int na = isnan(a), nb = isnan(b), wrong;
    if (na || nb)
      wrong = na && !nb; /* NaN last */
    else
      wrong = desc ? a < b : a > b;
    if (!wrong && (a == b || (na && nb)) && out[i - 1].id > out[i].id)
      wrong = 1; /* stability */
    if (wrong && errors++ < 5)
      printf("rows %llu,%llu out of order: (%g, id %lld) then (%g, id %lld)\n",
             (unsigned long long)i - 1, (unsigned long long)i, a, out[i - 1].id, b, out[i].id);
  }
  printf("h5sort_check: %llu rows, %ld error(s)\n", (unsigned long long)nout, errors);
  free(seen);
  free(in);
  free(out);
  return errors ? 1 : 0;
}
