# Faster tag selection for `exiftool -a -TAG1 -TAG2 ...`, loaded into ExifTool through PERL5OPT by
# refocus_bench.datasets.exiftool (Apache-2.0, part of refocus-bench).
#
# When a list of tags is requested, ExifTool's SetFoundTags matches each requested name against every
# extracted tag with a new case-insensitive regular expression, and ExpandShortcuts looks each name up
# in the shortcut table the same way, for every file again. For the harvest's 44 names that is most
# of ExifTool's time per file. The replacements below return the same lists from a hash index built
# once per file (SetFoundTags) and from the previous call's result when the list is unchanged
# (ExpandShortcuts). BuildCompositeTags resolves the dependencies of every Composite tag ExifTool
# knows for every file, though only requested ones are printed: it is given the requested Composite
# tags and those they Require, Desire or Inhibit (transitively) instead. Any case they do not cover
# (tag groups, wildcards, exclusions, group options, no -a, all tags) goes to ExifTool's own code.
# They are installed only over the exact code they were written against (MD5 of the original sub's
# source text); another ExifTool version runs unchanged.
package RefocusBenchTags;

use strict;
use warnings;

my %KNOWN = (
    SetFoundTags    => '35fb4422eeee233f6e5c5e04422c6bb2',
    ExpandShortcuts => '0d76371ec023cf107430e678a9232e97',
    BuildCompositeTags => 'bfa9d62703956aea3326926d9c6bfe03',
);
my ($origFound, $origExpand, $origBuild, $lastKey, $lastList, $dropKey, $dropList);

sub SourceDigests {
    my $file = $INC{'Image/ExifTool.pm'} or return {};
    open(my $fh, '<', $file) or return {};
    local $/;
    my $text = <$fh>;
    close $fh;
    require Digest::MD5;
    my %digest;
    foreach my $name (keys %KNOWN) {
        $digest{$name} = Digest::MD5::md5_hex($1) if $text =~ /^(sub \Q$name\E\b.*?^\}\n)/ms;
    }
    return \%digest;
}

INIT {
    if (defined &Image::ExifTool::SetFoundTags and defined &Image::ExifTool::ExpandShortcuts) {
        my $digest = SourceDigests();
        no warnings 'redefine';
        if (($$digest{SetFoundTags} || '') eq $KNOWN{SetFoundTags}) {
            $origFound = \&Image::ExifTool::SetFoundTags;
            *Image::ExifTool::SetFoundTags = \&SetFoundTags;
        }
        if (($$digest{ExpandShortcuts} || '') eq $KNOWN{ExpandShortcuts}) {
            $origExpand = \&Image::ExifTool::ExpandShortcuts;
            *Image::ExifTool::ExpandShortcuts = \&ExpandShortcuts;
        }
        if (($$digest{BuildCompositeTags} || '') eq $KNOWN{BuildCompositeTags}) {
            $origBuild = \&Image::ExifTool::BuildCompositeTags;
            *Image::ExifTool::BuildCompositeTags = \&BuildCompositeTags;
        }
    }
}

# Whether ExifTool was asked for a plain list of tag names, duplicates included, nothing excluded.
# The answer is kept for the same request (the same list, which the memo holds so that its address
# is not reused, and the same Duplicates, Exclude and number of options): once per file, not twice.
my $plainMemo;
sub PlainRequest($)
{
    my $self = shift;
    my $options = $$self{OPTIONS};
    my @state = ($$self{REQUESTED_TAGS} || [ ], $$options{Duplicates} || 0, $$options{Exclude} || 0,
                 scalar(keys %$options));
    if ($plainMemo and $$plainMemo[0] == $state[0] and $$plainMemo[1] eq $state[1]
        and $$plainMemo[2] eq $state[2] and $$plainMemo[3] == $state[3]) {
        return $$plainMemo[4];
    }
    my $reqTags = $state[0];
    my $plain = (@$reqTags and $$options{Duplicates} and not $$options{Exclude}
        and not grep(/^Group/, keys %$options) and not grep(!/^[-\w]+$/ || /^all$/i, @$reqTags)) ? 1 : 0;
    $plainMemo = [ @state, $plain ];
    return $plain;
}

# Same result as the original for a list of plain tag names with duplicates wanted: each name's
# matches are the tag keys "Name" and "Name (N)" (any case) in file order, or "Name (0)" if none.
sub SetFoundTags($)
{
    my $self = $_[0];
    goto &$origFound unless PlainRequest($self);
    my $reqTags = $$self{REQUESTED_TAGS};
    my $fileOrder = $$self{FILE_ORDER};
    my %index;
    foreach (keys %{$$self{VALUE}}) {
        push @{$index{lc $1}}, $_ if /^([-\w]+)( \(|$)/;
    }
    my @rtnTags;
    foreach my $tag (@$reqTags) {
        my @matches = @{$index{lc $tag} || [ ]};
        if (@matches > 1) {
            @matches = sort { $$fileOrder{$a} <=> $$fileOrder{$b} } @matches;
        } elsif (not @matches) {
            $matches[0] = "$tag (0)";
            $$fileOrder{$matches[0]} = 9999;
        }
        push @rtnTags, @matches;
    }
    $$self{FOUND_TAGS} = \@rtnTags;
    return wantarray ? (\@rtnTags, [ ], [ ]) : \@rtnTags;
}

# The original's result, remembered for the last list of plain strings it expanded.
sub ExpandShortcuts($;$)
{
    my ($tagList, $removeSuffix) = @_;
    return &$origExpand(@_) unless $tagList and @$tagList and not grep(ref, @$tagList);
    my $key = join("\0", $removeSuffix ? 1 : 0, @$tagList);
    unless (defined $lastKey and $key eq $lastKey) {
        my @copy = @$tagList;
        &$origExpand(\@copy, $removeSuffix);
        ($lastKey, $lastList) = ($key, \@copy);
    }
    @$tagList = @$lastList;
    return;
}

# The original, run over the Composite tags that the requested tags need: the others are removed
# from the Composite table for the call (and put back after it).
sub BuildCompositeTags($)
{
    my $self = $_[0];
    goto &$origBuild unless PlainRequest($self);
    my $compTable = Image::ExifTool::GetTagTable('Image::ExifTool::Composite');
    my @want = (@{$$self{REQUESTED_TAGS}}, keys %{$$self{REQ_TAG_LOOKUP}});
    my $key = join("\0", scalar(keys %$compTable), sort @want);
    unless (defined $dropKey and $key eq $dropKey) {
        ($dropKey, $dropList) = ($key, UnneededComposites($compTable, \@want));
    }
    delete local @$compTable{@$dropList};
    return &$origBuild($self);
}

# Keys of the Composite table whose tags neither ``$want`` names nor a wanted Composite tag needs.
sub UnneededComposites($$)
{
    my ($compTable, $want) = @_;
    my (%byName, %need, @todo);
    foreach my $tag (keys %$compTable) {
        my $info = $$compTable{$tag};
        next unless ref $info eq 'HASH' and defined $$info{Name};
        push @{$byName{lc $$info{Name}}}, $tag;
    }
    @todo = map { lc } @$want;
    while (@todo) {
        my $name = shift @todo;
        $name =~ s/.*://;
        foreach my $tag (@{$byName{$name} || [ ]}) {
            next if $need{$tag}++;
            my $info = $$compTable{$tag};
            foreach my $list (grep { ref $_ eq 'HASH' } @$info{qw(Require Desire Inhibit)}) {
                push @todo, map { lc } values %$list;
            }
        }
    }
    return [ grep { ref $$compTable{$_} eq 'HASH' and defined $$compTable{$_}{Name} and not $need{$_} }
             keys %$compTable ];
}

1;
