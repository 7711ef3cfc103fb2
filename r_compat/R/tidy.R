# Tidy evaluation frames: one row per (example_id, eps, attack[, defense]).

.tidy_columns <- c("example_id", "eps", "attack", "correct")

.check_tidy <- function(data, name = "data") {
  if (!is.data.frame(data)) {
    stop(sprintf("%s must be a data.frame with columns %s (and optionally defense); got %s.",
                 name, paste(.tidy_columns, collapse = ", "), .describe(data)), call. = FALSE)
  }
  missing <- setdiff(.tidy_columns, base::names(data))
  if (length(missing)) {
    stop(sprintf("%s lacks the column(s) %s; got columns %s.", name,
                 paste(missing, collapse = ", "), paste(base::names(data), collapse = ", ")),
         call. = FALSE)
  }
  if (nrow(data) == 0) stop(sprintf("%s has no rows.", name), call. = FALSE)
  data <- as.data.frame(data, stringsAsFactors = FALSE)
  data$correct <- .check_correct(data$correct, sprintf("%s$correct", name))
  if (anyNA(data$eps) || anyNA(data$example_id)) {
    stop(sprintf("%s has missing values in eps or example_id; drop or fill them.", name), call. = FALSE)
  }
  eps <- if (is.numeric(data$eps)) data$eps else suppressWarnings(as.numeric(as.character(data$eps)))
  bad <- which(is.na(eps) | !is.finite(eps) | eps < 0)
  if (length(bad)) {
    stop(sprintf("%s$eps holds %s: expected radii, finite numbers >= 0 (0 for clean accuracy). Fix or drop those rows.",
                 name, format(data$eps[bad[1]])), call. = FALSE)
  }
  data$eps <- eps  # numbers from here on (a factor or text column after read.csv)
  if ("defense" %in% base::names(data)) data$defense <- as.character(data$defense)
  data$attack <- as.character(data$attack)
  data
}

#' Pivot a tidy evaluation frame to one logical column per level of `by`
#'
#' @param data data.frame with example_id, eps, attack, correct (and defense).
#' @param by the column whose levels become columns ("defense", "attack", "eps").
#' @return a data.frame, one row per example_id (sorted), one column per level.
#'   Levels and example_ids are sorted as Python's twin sorts them: numbers
#'   numerically, strings by code point (C-locale order, so "TRADES" comes
#'   before "madry" whatever LC_COLLATE is).
#' @export
paired_correct <- function(data, by = "defense") {
  data <- .check_tidy(data)
  if (!(by %in% base::names(data))) stop(sprintf("by = '%s' is not a column of data.", by), call. = FALSE)
  for (col in setdiff(intersect(c("eps", "attack", "defense"), base::names(data)), by)) {
    if (length(unique(data[[col]])) > 1) {
      stop(sprintf("pairing by '%s' needs a single %s; data has %d levels. Filter first.",
                   by, col, length(unique(data[[col]]))), call. = FALSE)
    }
  }
  if (anyDuplicated(data[, c("example_id", by)])) {
    stop(sprintf("data has more than one row for some (example_id, %s).", by), call. = FALSE)
  }
  # sorted as Python's twin sorts them (code point order for strings), not by LC_COLLATE
  ids <- .sort_py(unique(data$example_id))
  levels <- .sort_py(unique(data[[by]]))
  out <- data.frame(row.names = seq_along(ids))
  for (l in levels) {
    rows <- data[data[[by]] == l, ]
    out[[as.character(l)]] <- rows$correct[match(ids, rows$example_id)]
  }
  if (anyNA(out)) {
    stop(sprintf("%d example_id(s) are not measured under every %s level; drop them first.",
                 sum(!stats::complete.cases(out)), by), call. = FALSE)
  }
  rownames(out) <- as.character(ids)
  out
}
